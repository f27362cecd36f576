"""Helpers of the contract tests: the ledger's constants as the tests name them, member and
document hashes, and the revert message brownie makes of a custom error.
"""

from __future__ import annotations

import itertools

from brownie import web3

DAY = 86_400
GRACE_PERIOD = 3 * DAY
CREDIT_LIMIT = 10_000_000_000  # 100,000,000.00 CNY in fen
FACE_VALUE = 100_000_000  # 1,000,000.00 CNY in fen

ROLE_NONE, ROLE_CORE, ROLE_SUPPLIER, ROLE_FINANCIER = 0, 1, 2, 3
(
    STATUS_NONE,
    STATUS_ISSUED,
    STATUS_ACTIVE,
    STATUS_REJECTED,
    STATUS_REVOKED,
    STATUS_SETTLED,
    STATUS_OVERDUE,
    STATUS_DEFAULTED,
) = range(8)
OFFER_NONE, OFFER_OPEN, OFFER_ACCEPTED, OFFER_WITHDRAWN = range(4)

_invoice_numbers = itertools.count(1)
_document_numbers = itertools.count(1)


def org_hash(name: str) -> bytes:
    return web3.keccak(text=f"USCC:{name}")


def next_invoice_key() -> bytes:
    return web3.keccak(text=f"invoice:91310000MA1FL0000X:{next(_invoice_numbers):08d}")


def document_hash(text: str | None = None) -> bytes:
    """The hash of a document; a fresh one unless `text` names it (one document hash backs
    one certificate, so every issuance needs its own)."""
    if text is None:
        text = f"purchase contract {next(_document_numbers)}"
    return web3.keccak(text=text)


def custom_error(name: str, *args) -> str:
    """The revert message brownie decodes a custom error into."""

    def fmt(arg) -> str:
        if hasattr(arg, "address"):
            return str(arg.address).lower()
        if isinstance(arg, str) and arg.startswith("0x") and len(arg) == 42:
            return arg.lower()
        if isinstance(arg, bytes):
            return str(bytes(arg))
        return str(arg)

    if not args:
        return f"{name}: "
    return f"{name}: {', '.join(fmt(a) for a in args)}"
