"""Who signs an account's transactions, when it is not a key the service holds.

:class:`~chain_client.transactions.TransactionSender` signs with an ``account``: anything
with an ``address`` and ``sign_transaction(fields)`` returning an object with
``raw_transaction`` and ``hash`` (eth-account's ``LocalAccount`` is one). This module has
the others:

* :class:`OwnSigner`: the organization signs with its own tool, outside the service. The
  sender can estimate and price as that address (everything :meth:`TransactionSender.prepare`
  does), but signing raises :class:`SignatureRequired`: the transaction is handed out
  instead (:mod:`chain_client.unsigned`) and comes back signed.
* :class:`RemoteSigner`: a signer service holds the key (clef, web3signer, an HSM's
  gateway) and signs over JSON-RPC ``eth_signTransaction``; this process never sees the
  key. What it returns is checked (:func:`chain_client.unsigned.check_signed`) before
  anyone can broadcast it: bytes that are not the transaction asked for, or signed by
  another key, raise :class:`~chain_client.errors.SignerMismatch` naming the field.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from chain_client.errors import (
    ChainClientError,
    SignerMismatch,
    SignerRefused,
    SignerUnavailable,
)


class Signer(Protocol):
    """What :class:`~chain_client.transactions.TransactionSender` signs with."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, transaction_dict: Any, /) -> Any:
        """The signed transaction: an object with ``raw_transaction`` and ``hash``."""
        ...


class SignatureRequired(ChainClientError):  # noqa: N818 - reads better at the call site
    """The account signs for itself, outside this process: prepare, hand out, check."""


class OwnSigner:
    """An account whose key only its organization holds."""

    def __init__(self, address: str) -> None:
        self.address = to_checksum_address(address)

    def sign_transaction(self, fields: Mapping[str, Any]) -> Any:
        raise SignatureRequired(
            f"{self.address} signs its own transactions: prepare it and submit the signed bytes"
        )


#: seconds a remote signer has to answer one request (connect and read each): a signer
#: that asks a person to approve (clef's default) needs them; one that signs by rule
#: (web3signer) answers in milliseconds. Signing happens under the account's nonce lock,
#: so this is also how long the account's other commands may wait behind it.
DEFAULT_SIGNER_TIMEOUT = 10.0

#: the transaction fields eth_signTransaction takes, as quantities (hex) or data
_QUANTITIES = ("gas", "nonce", "value", "chainId", "maxFeePerGas", "maxPriorityFeePerGas")
_QUANTITIES_LEGACY = ("gasPrice",)


@dataclass(frozen=True)
class RemoteSignature:
    """What :meth:`RemoteSigner.sign_transaction` returns: the fields eth-account's
    ``SignedTransaction`` has that :class:`~chain_client.transactions.TransactionSender`
    reads."""

    raw_transaction: HexBytes
    hash: HexBytes


class RemoteSigner:
    """An account whose key a signer service holds, asked over JSON-RPC.

    ``url`` is the signer's JSON-RPC endpoint (``http://127.0.0.1:8550`` for clef,
    ``http://host:9000`` for web3signer); it may carry credentials (a user part, a token
    in the path or query), so messages and ``repr`` show only ``scheme://host:port``
    (:attr:`shown_url`). ``data_field``: the name the transaction's calldata is sent
    under, ``data`` (web3signer, clef) or ``input`` (clef's newer name).

    Failures, each a :class:`~chain_client.errors.SignerError`, and nothing is broadcast
    after any of them (signing comes before :meth:`TransactionSender.submit_prepared
    <chain_client.transactions.TransactionSender.submit_prepared>` broadcasts):

    * :class:`~chain_client.errors.SignerUnavailable`: not reachable, timed out after
      ``timeout`` seconds, HTTP 5xx, or an answer that is not JSON-RPC;
    * :class:`~chain_client.errors.SignerRefused`: a JSON-RPC error (or HTTP 4xx: its
      credentials or path are wrong);
    * :class:`~chain_client.errors.SignerMismatch`: bytes that are not this transaction
      signed by ``address``.

    A request that could not be delivered (connection refused or reset) is sent once
    more. Signing twice is harmless: a signature is not a transaction, and only the bytes
    returned to the sender are journaled and broadcast, so two signatures of one nonce
    can never both be mined. A read timeout is not retried: the signer may be waiting for
    a person, and a second prompt would only double the wait.
    """

    def __init__(
        self,
        url: str,
        address: str,
        *,
        timeout: float = DEFAULT_SIGNER_TIMEOUT,
        data_field: str = "data",
        session: requests.Session | None = None,
    ) -> None:
        if data_field not in ("data", "input"):
            raise ValueError("data_field is 'data' or 'input'")
        self.url = url
        self.address = to_checksum_address(address)
        self.timeout = timeout
        self.data_field = data_field
        self._session = session or requests.Session()
        self._ids = itertools.count(1)

    @property
    def shown_url(self) -> str:
        """``scheme://host:port`` of the signer, for messages and logs."""
        from chain_client.freshness import display_url

        return display_url(self.url)

    def __repr__(self) -> str:
        return f"RemoteSigner({self.shown_url!r}, {self.address!r})"

    def close(self) -> None:
        self._session.close()

    # -- JSON-RPC -----------------------------------------------------------------------

    def request_params(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` (as :meth:`PreparedTransaction.with_nonce
        <chain_client.transactions.PreparedTransaction.with_nonce>` gives them) as
        eth_signTransaction's transaction object: quantities in hex, ``from`` added, no
        ``type`` (signers infer it from the fee fields)."""
        tx: dict[str, Any] = {"from": self.address}
        if fields.get("to"):
            tx["to"] = to_checksum_address(fields["to"])
        for name in (*_QUANTITIES, *_QUANTITIES_LEGACY):
            if fields.get(name) is not None:
                tx[name] = hex(int(fields[name]))
        tx[self.data_field] = "0x" + bytes(HexBytes(fields.get("data", b""))).hex()
        return tx

    def call(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request; its ``result``, or a :class:`SignerError`."""
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        where = self.shown_url
        reply = None
        for attempt in (1, 2):
            try:
                reply = self._session.post(self.url, json=body, timeout=self.timeout)
                break
            except requests.exceptions.Timeout as exc:
                if isinstance(exc, requests.exceptions.ConnectTimeout) and attempt == 1:
                    continue
                # the exception's text holds the URL's path and query: not repeated
                raise SignerUnavailable(
                    f"the signer at {where} did not answer {method} within {self.timeout:g} s"
                ) from None
            except requests.exceptions.ConnectionError:
                if attempt == 1:
                    continue
                raise SignerUnavailable(
                    f"the signer at {where} cannot be reached ({method})"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise SignerUnavailable(
                    f"the signer at {where} failed on {method} ({type(exc).__name__})"
                ) from None
        assert reply is not None
        if reply.status_code >= 500:
            raise SignerUnavailable(f"the signer at {where} answered HTTP {reply.status_code}")
        try:
            answer = reply.json()
        except (ValueError, json.JSONDecodeError):
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            message = str(error.get("message", ""))[:300]
            raise SignerRefused(
                f"the signer at {where} refused {method}: {message} (code {code})",
                code if isinstance(code, int) else None,
                message,
            )
        if reply.status_code >= 400:
            raise SignerRefused(
                f"the signer at {where} refused {method}: HTTP {reply.status_code} "
                "(check the signer URL and its credentials)"
            )
        if not isinstance(answer, dict) or "result" not in answer:
            raise SignerUnavailable(f"the signer at {where} gave no JSON-RPC answer to {method}")
        return answer["result"]

    def accounts(self) -> list[str]:
        """The addresses the signer holds keys for (``eth_accounts``)."""
        return [to_checksum_address(a) for a in self.call("eth_accounts", []) or []]

    def sign_transaction(self, fields: Mapping[str, Any]) -> RemoteSignature:
        """``fields`` signed by the signer, checked to be exactly them signed by
        :attr:`address` (else :class:`~chain_client.errors.SignerMismatch`)."""
        from chain_client.unsigned import SignedMismatch, check_signed

        result = self.call("eth_signTransaction", [self.request_params(fields)])
        raw_text = result.get("raw") if isinstance(result, dict) else result  # clef | web3signer
        try:
            raw = bytes(HexBytes(raw_text)) if isinstance(raw_text, str) else b""
        except ValueError:
            raw = b""
        if not raw:
            raise SignerMismatch(
                f"the signer at {self.shown_url} returned no signed transaction", "encoding"
            )
        try:
            facts = check_signed(raw, fields, self.address)
        except SignedMismatch as exc:
            raise SignerMismatch(
                f"the signer at {self.shown_url} returned another transaction than the one "
                f"asked for ({exc.field}): {exc}; nothing was sent",
                exc.field,
            ) from exc
        return RemoteSignature(HexBytes(raw), HexBytes(facts.tx_hash))
