"""How chain values become text: hex strings and JSON-ready structures.

Light on purpose (no web3 import), so the CLI and the API's models can use it. One rule
each, shared by the client, the API and the scripts:

- bytes (and HexBytes, a bytes subclass) are ``0x``-prefixed lowercase hex;
- JSON numbers are IEEE doubles, exact only up to 2**53, so a larger integer becomes a
  decimal string; money (fen) is always a string (docs/design.md, "Money"), named by key.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import Any

#: beyond this a JSON number (an IEEE double) no longer holds every integer exactly
JSON_SAFE_INTEGER = 2**53


def to_hex(value: Any) -> str:
    """``0x…`` for bytes, HexBytes, and strings with or without the prefix."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


def jsonable(
    value: Any,
    *,
    money_keys: Collection[str] = (),
    ints_as_strings: bool = False,
) -> Any:
    """A copy of ``value`` that ``json.dumps`` writes without losing anything.

    Integers under a key in ``money_keys``, and every integer when ``ints_as_strings``
    (event arguments: uint256 values of any size), become decimal strings; others only past
    2**53. Enums are written by name, bytes as hex, unknown objects with ``str``."""

    def convert(item: Any, key: str | None) -> Any:
        if isinstance(item, dict):
            return {str(k): convert(v, str(k)) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [convert(v, key) for v in item]
        if isinstance(item, bytes | bytearray | memoryview):
            return to_hex(item)
        if isinstance(item, bool) or item is None or isinstance(item, str | float):
            return item
        if isinstance(item, Enum):
            return item.name
        if isinstance(item, int):
            if ints_as_strings or key in money_keys or abs(item) > JSON_SAFE_INTEGER:
                return str(item)
            return item
        return str(item)

    return convert(value, None)
