"""Identities that go on chain only as hashes: organizations and invoices.

Why hashes: the ledger must bind a member to one real organization and a certificate to
one real receivable, without publishing business data on a shared chain (DESIGN.md, "On
chain vs off chain").

* An organization is its unified social credit code (统一社会信用代码, GB 32100-2015). The
  code is public information, so its hash is only a stable, fixed-size id; we validate the
  check digit first so that a typo cannot onboard a second identity for one company.
* An invoice is (seller tax id, invoice number). Those are guessable, so a plain hash
  would let anyone enumerate the registry and learn who finances which invoices. The key
  is therefore an HMAC under a secret held by the platform (and shared with the banks that
  verify), deterministic so the same invoice always maps to the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from eth_utils import keccak

#: GB 32100-2015 character set: digits and capitals without I, O, Z, S, V (31 symbols).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {char: index for index, char in enumerate(USCC_CHARSET)}
#: Weight of position i is 3**i mod 31 (GB 32100-2015, 附录).
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
USCC_LENGTH = 18

_INVOICE_KEY_DOMAIN = b"scf-ledger/invoice-key/v1\x00"
_TAX_ID_ALLOWED = re.compile(r"^[0-9A-Z]+$")
_MIN_SECRET_BYTES = 16


def normalize_uscc(uscc: str) -> str:
    """Trim and upper-case a code, removing spaces and hyphens people type in."""
    if not isinstance(uscc, str):
        raise TypeError(f"a unified social credit code is a str, got {type(uscc).__name__}")
    return re.sub(r"[\s\-]", "", uscc).upper()


def uscc_check_digit(first17: str) -> str:
    """The 18th character of a code whose first 17 characters are ``first17``."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def validate_uscc(uscc: str) -> str:
    """The normalized code, or ValueError saying exactly what is wrong with it."""
    code = normalize_uscc(uscc)
    if len(code) != USCC_LENGTH:
        raise ValueError(
            f"unified social credit code {uscc!r} has {len(code)} characters, expected 18"
        )
    bad = sorted({c for c in code if c not in _USCC_VALUE})
    if bad:
        raise ValueError(
            f"unified social credit code {uscc!r} contains characters not allowed by "
            f"GB 32100-2015: {''.join(bad)!r} (I, O, Z, S, V are never used)"
        )
    expected = uscc_check_digit(code[:17])
    if code[17] != expected:
        raise ValueError(
            f"unified social credit code {uscc!r} fails its check digit: "
            f"last character is {code[17]!r}, expected {expected!r} (typo?)"
        )
    return code


def org_id_hash(uscc: str) -> bytes:
    """keccak256 of the validated, normalized code: the member's ``orgIdHash`` on chain."""
    return bytes(keccak(validate_uscc(uscc).encode("ascii")))


def normalize_tax_id(seller_tax_id: str) -> str:
    """Strip, upper-case, and remove spaces and hyphens (how ids get typed and printed)."""
    if not isinstance(seller_tax_id, str):
        raise TypeError("seller_tax_id must be a str")
    tax_id = re.sub(r"[\s\-]", "", seller_tax_id).upper()
    if not tax_id:
        raise ValueError("seller tax id is empty")
    if not _TAX_ID_ALLOWED.match(tax_id):
        raise ValueError(f"seller tax id {seller_tax_id!r} may only hold digits and letters")
    return tax_id


def normalize_invoice_number(invoice_number: str) -> str:
    """Strip and remove inner spaces ("0123 4567" and "01234567" are one invoice)."""
    if not isinstance(invoice_number, str):
        raise TypeError("invoice_number must be a str")
    number = re.sub(r"\s", "", invoice_number)
    if not number:
        raise ValueError("invoice number is empty")
    if "\x00" in number:
        raise ValueError("invoice number contains a NUL character")
    return number


def invoice_key(seller_tax_id: str, invoice_number: str, *, secret: bytes) -> bytes:
    """HMAC-SHA256 (32 bytes, the ledger's ``invoiceKey``) of one normalized invoice.

    The two fields are joined with a NUL, which neither may contain, so ("AB", "1") and
    ("A", "B1") can never collide; a domain tag keeps the key from being reused elsewhere.
    """
    if not isinstance(secret, bytes | bytearray) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"the invoice-key secret must be at least {_MIN_SECRET_BYTES} bytes")
    message = (
        _INVOICE_KEY_DOMAIN
        + normalize_tax_id(seller_tax_id).encode("ascii")
        + b"\x00"
        + normalize_invoice_number(invoice_number).encode("utf-8")
    )
    return hmac.new(bytes(secret), message, hashlib.sha256).digest()
