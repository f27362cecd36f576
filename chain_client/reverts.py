"""Turn revert data into Python exceptions named after the Solidity custom errors.

Why: the ledger's contracts reject business actions with custom errors
(``InsufficientCredit(uint256 requested, uint256 available)`` ...). Callers should catch
them by name and read their arguments, instead of parsing hex. For every error in an ABI
we create (once, cached per ABI fingerprint) a subclass of :class:`ContractRevert` named
after the error, so ``type(exc).__name__ == "TooLarge"`` and ``exc.args == {"value": 7,
"limit": 5}``. ``Error(string)`` and ``Panic(uint256)`` are decoded whatever the ABI.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from eth_utils.abi import abi_to_signature, get_abi_input_types
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError, Web3RPCError

from chain_client.errors import ContractRevert, Panic, RevertWithReason, UnknownRevert

PANIC_REASONS: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialized internal function",
}

_classes: dict[tuple[str, str], type[ContractRevert]] = {}
_declared_bases: dict[str, type[ContractRevert]] = {}
_decoders: dict[str, ErrorDecoder] = {}
_lock = threading.Lock()


class _ErrorClasses:
    """Attribute access to an ABI's error classes: ``decoder.errors.TooLarge``."""

    def __init__(self, classes: Mapping[str, type[ContractRevert]]) -> None:
        self._classes = dict(classes)

    def __getattr__(self, name: str) -> type[ContractRevert]:
        try:
            return self._classes[name]
        except KeyError:
            raise AttributeError(f"the ABI declares no error named {name!r}") from None

    def __iter__(self) -> Iterator[type[ContractRevert]]:
        return iter(self._classes.values())

    def __dir__(self) -> list[str]:
        return sorted(self._classes)


class ErrorDecoder:
    """Decodes revert data against one ABI. Use :func:`error_decoder` to get a cached one."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        error_entries = [dict(e) for e in abi if e.get("type") == "error"]
        self.fingerprint = _fingerprint(error_entries)
        self._by_selector: dict[bytes, tuple[type[ContractRevert], dict[str, Any]]] = {}
        classes: dict[str, type[ContractRevert]] = {}
        for entry in error_entries:
            signature = abi_to_signature(entry)  # type: ignore[arg-type]
            selector = function_signature_to_4byte_selector(signature)
            cls = _error_class(self.fingerprint, entry["name"], signature, selector)
            classes[entry["name"]] = cls
            self._by_selector[selector] = (cls, entry)
        self.errors = _ErrorClasses(classes)

    def decode(self, data: bytes | str | None, *, tx_hash: str | None = None) -> ContractRevert:
        """Build the exception for revert ``data`` (never raises for malformed data)."""
        raw = _to_bytes(data)
        selector, payload = raw[:4], raw[4:]
        try:
            if selector == RevertWithReason.selector:
                (reason,) = abi_decode(["string"], payload)
                return RevertWithReason(
                    f"reverted: {reason}", args={"reason": reason}, data=raw, tx_hash=tx_hash
                )
            if selector == Panic.selector:
                (code,) = abi_decode(["uint256"], payload)
                why = PANIC_REASONS.get(code, "unknown panic code")
                return Panic(
                    f"panic 0x{code:02x}: {why}", args={"code": code}, data=raw, tx_hash=tx_hash
                )
            if selector in self._by_selector:
                cls, entry = self._by_selector[selector]
                values = abi_decode(get_abi_input_types(entry), payload)  # type: ignore[arg-type]
                args = _named(entry.get("inputs", []), values)
                shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
                return cls(f"{entry['name']}({shown})", args=args, data=raw, tx_hash=tx_hash)
        except (DecodingError, ValueError, OverflowError):
            pass  # right selector, wrong payload: report it as unknown with the raw data
        if not raw:
            return UnknownRevert("reverted without data", data=raw, tx_hash=tx_hash)
        return UnknownRevert(
            f"reverted with unknown error 0x{raw[:4].hex()}", data=raw, tx_hash=tx_hash
        )

    def from_exception(
        self, exc: BaseException, *, tx_hash: str | None = None
    ) -> ContractRevert | None:
        """The revert behind a web3 exception, or None if ``exc`` is not a revert."""
        data = revert_data_from_exception(exc)
        return None if data is None else self.decode(data, tx_hash=tx_hash)

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Around a node call: a revert leaves as its decoded :class:`ContractRevert`
        (web3's exception adds nothing to it, hence ``from None``), anything else as is."""
        try:
            yield
        except ContractRevert:
            raise
        except Exception as exc:
            revert = self.from_exception(exc)
            if revert is None:
                raise
            raise revert from None


def error_decoder(abi: Sequence[Mapping[str, Any]]) -> ErrorDecoder:
    """A decoder for ``abi``, shared by every caller with the same errors in its ABI."""
    key = _fingerprint([dict(e) for e in abi if e.get("type") == "error"])
    with _lock:
        decoder = _decoders.get(key)
    if decoder is None:
        decoder = ErrorDecoder(abi)
        with _lock:
            decoder = _decoders.setdefault(key, decoder)
    return decoder


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Extract revert data from what web3 raised for eth_call / eth_estimateGas.

    Returns None when the exception is not a revert (connection error, bad params ...),
    and b"" for a revert without data (``revert()``, ``require(cond)``).
    """
    if isinstance(exc, ContractLogicError):
        data = _hex_from(exc.data)
        return data if data is not None else b""
    if isinstance(exc, Web3RPCError):
        error: Any = (exc.rpc_response or {}).get("error") or {}
        if isinstance(error, Mapping):
            data = _hex_from(error.get("data"))
            if data is not None:
                return data
            if "revert" in str(error.get("message", "")).lower():
                return b""
    return None


def _hex_from(value: Any) -> bytes | None:
    """Revert data as nodes report it: "0x..", {"data": "0x.."}, "Reverted 0x.."."""
    if isinstance(value, Mapping):
        value = value.get("data")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value.removeprefix("Reverted ").strip()
        if text.startswith("0x"):
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                return None
    return None


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return bytes(HexBytes(data)) if data not in ("", "0x") else b""
    return bytes(data)


def _named(inputs: Sequence[Mapping[str, Any]], values: Sequence[Any]) -> dict[str, Any]:
    """Pair decoded values with ABI names (``arg0``... if unnamed), structs as dicts."""
    named: dict[str, Any] = {}
    for index, (spec, value) in enumerate(zip(inputs, values, strict=False)):
        named[spec.get("name") or f"arg{index}"] = _convert(spec, value)
    return named


def _convert(spec: Mapping[str, Any], value: Any) -> Any:
    kind = str(spec.get("type", ""))
    if kind == "tuple":
        return _named(spec.get("components", []), value)
    if kind.startswith("tuple[") or (kind.startswith("tuple") and kind.endswith("]")):
        inner = {**spec, "type": kind[: kind.rindex("[")]}
        return [_convert(inner, v) for v in value]
    if kind == "address":
        return to_checksum_address(value)  # like web3 does for events and return values
    if kind.startswith("address["):
        return [_convert({"type": kind[: kind.rindex("[")]}, v) for v in value]
    return value


def declare_error_bases(classes: Sequence[type[ContractRevert]]) -> None:
    """Make every class created later for these signatures a subclass of the given ones.

    Why: classes are created per ABI (an error name may mean different things in
    different contracts), so two ABIs that both declare ``InvalidSplitAmount`` would give
    two unrelated classes. A contract-specific client (the ledger's) declares stable
    classes once at import, and ``except ledger_errors.InvalidSplitAmount`` then catches
    the error whichever ABI decoded it. Each class must set ``error_signature``.
    """
    with _lock:
        for cls in classes:
            if not cls.error_signature:
                raise ValueError(f"{cls.__name__} has no error_signature")
            _declared_bases[cls.error_signature] = cls


def _fingerprint(error_entries: Sequence[Mapping[str, Any]]) -> str:
    canonical = sorted(json.dumps(e, sort_keys=True) for e in error_entries)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def _error_class(
    fingerprint: str, name: str, signature: str, selector: bytes
) -> type[ContractRevert]:
    with _lock:
        cls = _classes.get((fingerprint, signature))
        if cls is None:
            cls = type(
                name,
                (_declared_bases.get(signature, ContractRevert),),
                {
                    "error_name": name,
                    "error_signature": signature,
                    "selector": selector,
                    "__doc__": f"Solidity custom error {signature}.",
                    "__module__": __name__,
                },
            )
            _classes[(fingerprint, signature)] = cls
        return cls
