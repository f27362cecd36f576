"""A transaction prepared for a signer outside the service, and the check of what comes back.

An organization that keeps its own key (an HSM, a hardware token, its own signing service)
is given the unsigned transaction, every field settled (chain id, the nonce the service
reserved for it, fees, gas, data), and the hash its signer signs. It returns the signed
bytes. Before anything is journaled or broadcast, :func:`check_signed` proves that those
bytes are exactly the prepared transaction, signed by the expected address: a signer that
changed a field, a nonce or the key is refused with the field named, and nothing is sent.

The JSON form (:func:`to_json` / :func:`from_json`) writes wei amounts as decimal strings
(they exceed a double's 53 bits) and gas, nonce and chain id as numbers, as JSON-RPC
clients expect them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account._utils.legacy_transactions import serializable_unsigned_transaction_from_dict
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from chain_client.encoding import to_hex

#: the fields a prepared transaction carries, and which are wei amounts (decimal strings)
_NUMBERS = ("chainId", "nonce", "gas", "type")
_WEI = ("value", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice")
#: the fields compared between the prepared and the signed transaction, in report order
COMPARED = ("chainId", "nonce", "to", "value", "data", "gas", *_WEI[1:])


class SignedMismatch(ValueError):  # noqa: N818 - reads better at the call site
    """The signed bytes are not the prepared transaction (``field`` names the first
    difference: a transaction field, ``sender`` for another key, ``encoding`` for bytes
    that are no signed transaction at all)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


@dataclass(frozen=True)
class SignedFacts:
    """What signed bytes say: who signed them, their hash, and the fields they carry."""

    sender: str
    tx_hash: str
    fields: dict[str, Any]


def to_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` (as :meth:`PreparedTransaction.with_nonce` gives them) for a JSON body."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _NUMBERS:
            out[name] = int(value)
        elif name in _WEI:
            out[name] = str(int(value))
        elif name == "data":
            out[name] = to_hex(HexBytes(value))
        elif name == "to":
            out[name] = to_checksum_address(value)
        else:
            raise ValueError(f"unexpected transaction field {name!r}")
    return out


def from_json(document: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of :func:`to_json`'s output, typed again for signing."""
    fields: dict[str, Any] = {}
    for name, value in document.items():
        if name in _NUMBERS or name in _WEI:
            fields[name] = int(value)
        elif name == "data":
            fields[name] = HexBytes(value)
        elif name == "to":
            fields[name] = to_checksum_address(value)
        else:
            raise ValueError(f"unexpected transaction field {name!r}")
    return fields


def signing_hash(fields: Mapping[str, Any]) -> str:
    """The hash the signer signs (EIP-1559's typed payload, or EIP-155's for a legacy
    transaction): a signer that shows it can be checked against this."""
    typed = dict(fields)
    if "type" in typed or "maxFeePerGas" in typed:
        return to_hex(TypedTransaction.from_dict(typed).hash())
    return to_hex(serializable_unsigned_transaction_from_dict(typed).hash())


def read_signed(raw: bytes) -> SignedFacts:
    """The signer and fields of signed bytes (:class:`SignedMismatch` ``encoding`` when
    they are no signed transaction)."""
    try:
        sender = Account.recover_transaction(raw)
        fields = _decoded_fields(raw)
    except Exception as exc:  # eth-account raises several kinds for malformed bytes
        raise SignedMismatch("encoding", f"not a signed transaction: {exc}") from exc
    return SignedFacts(to_checksum_address(sender), to_hex(HexBytes(_keccak(raw))), fields)


def check_signed(raw: bytes, prepared: Mapping[str, Any], signer: str) -> SignedFacts:
    """``raw`` read and checked: signed by ``signer`` and equal, field for field, to the
    ``prepared`` transaction; else :class:`SignedMismatch` naming the difference."""
    facts = read_signed(raw)
    if facts.sender != to_checksum_address(signer):
        raise SignedMismatch(
            "sender", f"signed by {facts.sender}, not by the organization's {signer}"
        )
    if facts.fields.get("accessList"):
        raise SignedMismatch("accessList", "the signed transaction carries an access list")
    want_type, got_type = int(prepared.get("type", 0)), int(facts.fields.get("type", 0))
    if want_type != got_type:
        raise SignedMismatch(
            "type", f"type is {got_type}; the prepared transaction has {want_type}"
        )
    for name in COMPARED:
        want, got = _comparable(name, prepared.get(name)), _comparable(name, facts.fields.get(name))
        if want != got:
            raise SignedMismatch(name, f"{name} is {got!r}; the prepared transaction has {want!r}")
    return facts


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "data":
        return to_hex(HexBytes(value))
    if name == "to":
        return to_checksum_address(value) if value else None
    return int(value)


def _decoded_fields(raw: bytes) -> dict[str, Any]:
    if raw[:1] and raw[0] < 0x7F:  # EIP-2718: a typed transaction
        decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    else:
        from eth_account._utils.legacy_transactions import Transaction

        decoded = Transaction.from_bytes(raw).as_dict()
        v = int(decoded["v"])
        if v >= 35:  # EIP-155: the chain id is in v
            decoded["chainId"] = (v - 35) // 2
    fields = {k: v for k, v in decoded.items() if k not in ("v", "r", "s")}
    if "to" in fields and not fields["to"]:
        fields.pop("to")
    return fields


def _keccak(raw: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(raw)
