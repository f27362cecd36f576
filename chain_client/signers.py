"""Who signs an account's transactions, when it is not a key the service holds.

:class:`~chain_client.transactions.TransactionSender` signs with an ``account``: anything
with an ``address`` and ``sign_transaction(fields)`` returning an object with
``raw_transaction`` and ``hash`` (eth-account's ``LocalAccount`` is one). This module has
the others:

* :class:`OwnSigner`: the organization signs with its own tool, outside the service. The
  sender can estimate and price as that address (everything :meth:`TransactionSender.prepare`
  does), but signing raises :class:`SignatureRequired`: the transaction is handed out
  instead (:mod:`chain_client.unsigned`) and comes back signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from eth_utils import to_checksum_address

from chain_client.errors import ChainClientError


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
