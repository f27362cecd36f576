"""The exception hierarchy of chain_client.

Why one module: callers (the typed ledger client, the API, scripts) should be able to catch
"anything the chain layer raised" with one ``except ChainClientError`` and still tell a
business rejection (a contract revert, which maps to a 4xx) from an infrastructure problem
(node down, timeout, bad key file, which map to 5xx or operator action).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ChainClientError(Exception):
    """Base class of every error raised by chain_client."""


# --- compiler ---------------------------------------------------------------------------


class CompilerError(ChainClientError):
    """Solidity compilation failed (the message carries solc's formatted errors)."""


# --- keystore ---------------------------------------------------------------------------


class KeystoreError(ChainClientError):
    """Base class of key store errors. Messages never contain key material."""


class KeyNotFound(KeystoreError):  # noqa: N818 - reads better at the call site
    """No key file matches the given id or address."""


class KeyAlreadyExists(KeystoreError):  # noqa: N818
    """A key for this address is already stored."""


class WrongPassphrase(KeystoreError):  # noqa: N818
    """The passphrase does not open this key file."""


class TamperedKeyFile(KeystoreError):  # noqa: N818
    """The key file is corrupt or was modified after it was written."""


# --- node -------------------------------------------------------------------------------


class NodeError(ChainClientError):
    """A local node could not be started, reached or stopped."""


class NodeBinaryNotFound(NodeError):  # noqa: N818
    """The anvil executable could not be found."""


class PortInUse(NodeError):  # noqa: N818
    """The requested TCP port is already taken by another process."""


class NodeStartTimeout(NodeError):  # noqa: N818
    """The node process started but its RPC endpoint never answered."""


# --- transactions -----------------------------------------------------------------------


class TransactionError(ChainClientError):
    """A transaction could not be sent, or did not reach the expected state."""

    def __init__(self, message: str, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TransactionRejected(TransactionError):  # noqa: N818
    """The node refused to accept the signed transaction (not a revert)."""


class TransactionTimeout(TransactionError):  # noqa: N818
    """No receipt with enough confirmations arrived in time; the tx may still be mined."""


class NodeUnavailable(TransactionTimeout, NodeError):  # noqa: N818
    """The node could not be reached (connection refused or reset, timeouts, HTTP 5xx) for
    as long as chain_client was willing to try (:mod:`chain_client.retry`).

    Both a :class:`TransactionTimeout` and a :class:`NodeError`, on purpose: what was sent
    may still be mined (the bytes may have reached the node before it went away, and a
    journaled transaction is waited for again with the same bytes), and the remedy is the
    node, not the transaction. ``tx_hash`` is the transaction concerned, if any.
    """


class TransactionReplaced(TransactionError):  # noqa: N818
    """Our nonce was consumed by a different transaction (sent by someone else)."""


class TransactionFailed(TransactionError):  # noqa: N818
    """A mined transaction has status 0 and no revert reason could be recovered.

    Typical cause: out of gas with a fixed gas limit, or a node that cannot replay history.
    """

    def __init__(self, message: str, tx_hash: str | None = None, receipt: Any = None) -> None:
        super().__init__(message, tx_hash)
        self.receipt = receipt


class ContractRevert(ChainClientError):  # noqa: N818 - named like the Solidity concept
    """A contract call or transaction reverted.

    Subclasses are created at run time, one per Solidity custom error of an ABI, and are
    *named after the error* (``TooLarge``), so callers can write ``except abi_errors.TooLarge``
    or match on ``type(exc).__name__``. ``Error(string)`` and ``Panic(uint256)`` map to the
    fixed subclasses :class:`RevertWithReason` and :class:`Panic`.

    ``args`` is deliberately overridden to be a dict of the error's *named* arguments
    (``{"value": 7, "limit": 5}``): that is what a caller wants from a revert. The usual
    positional tuple Python keeps (used by ``str``/``repr``) holds only the message.
    """

    error_name: ClassVar[str | None] = None
    error_signature: ClassVar[str | None] = None
    selector: ClassVar[bytes | None] = None

    def __init__(
        self,
        message: str,
        *,
        args: dict[str, Any] | None = None,
        data: bytes = b"",
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(message)
        self._error_args: dict[str, Any] = dict(args or {})
        self.message = message
        self.data = data
        self.tx_hash = tx_hash

    @property  # type: ignore[override]
    def args(self) -> dict[str, Any]:
        """The revert's named arguments."""
        return self._error_args

    @args.setter
    def args(self, value: Any) -> None:
        # BaseException machinery may assign args; keep the dict semantics for our callers.
        self._error_args = dict(value) if isinstance(value, dict) else {}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._error_args!r})"


class RevertWithReason(ContractRevert):
    """``revert("reason")`` / ``require(cond, "reason")``: args is ``{"reason": str}``."""

    error_name = "Error"
    error_signature = "Error(string)"
    selector = bytes.fromhex("08c379a0")


class Panic(ContractRevert):
    """A Solidity panic (assert, overflow, division by zero ...): args is ``{"code": int}``."""

    error_name = "Panic"
    error_signature = "Panic(uint256)"
    selector = bytes.fromhex("4e487b71")


class UnknownRevert(ContractRevert):
    """Revert data that matches no error of the ABI (or no data at all)."""


# --- signers ----------------------------------------------------------------------------


class SignerError(ChainClientError):
    """An external signer (:class:`chain_client.signers.RemoteSigner`) did not sign.

    Messages name the signer by scheme, host and port only: its URL may carry credentials.
    Nothing was broadcast when one is raised: signing comes before the broadcast."""


class SignerUnavailable(SignerError):  # noqa: N818 - reads better at the call site
    """The signer could not be reached, timed out, or failed (HTTP 5xx, an answer that is
    not JSON-RPC): for now, like a node down; the same request later may succeed."""


class SignerRefused(SignerError):  # noqa: N818
    """The signer answered with a JSON-RPC error: it will not sign this (a person declined
    it in clef, the key is not the signer's, a rule of the signer refused it).
    ``rpc_code`` and ``rpc_message`` are the signer's own."""

    def __init__(self, message: str, rpc_code: int | None = None, rpc_message: str = "") -> None:
        super().__init__(message)
        self.rpc_code = rpc_code
        self.rpc_message = rpc_message


class SignerMismatch(SignerError):  # noqa: N818
    """The signer returned bytes that are not the transaction it was asked to sign, or
    signed with another key. ``field`` names the first difference (a transaction field,
    ``sender`` for another key, ``encoding`` for bytes that are no signed transaction, as
    :class:`chain_client.unsigned.SignedMismatch` does)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# --- events -----------------------------------------------------------------------------


class EventReaderError(ChainClientError):
    """The event reader cannot continue (e.g. the chain reorganized past every checkpoint)."""


# --- deployment manifest ----------------------------------------------------------------


class ManifestError(ChainClientError):
    """A deployment manifest is missing, unreadable or malformed."""


class ManifestMismatch(ManifestError):  # noqa: N818 - reads better at the call site
    """The chain does not hold what the manifest describes (chain id, code, addresses).

    Why loud: a client pointed at the wrong chain or at a redeployed contract would read
    and sign against a ledger nobody agreed on; a bank's verifier must refuse outright.
    """
