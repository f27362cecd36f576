"""Identities that go on chain only as hashes: organizations and invoices.

Why hashes: the ledger must bind a member to one real organization and a certificate to
one real receivable, without publishing business data on a shared chain (docs/design.md, "On
chain vs off chain").

* An organization is its unified social credit code (统一社会信用代码, GB 32100-2015). The
  code is public information, so its hash is only a stable, fixed-size id; we validate the
  check digit first so that a typo cannot onboard a second identity for one company.
* An invoice is (seller, invoice identity). Those are guessable, so a plain hash would let
  anyone enumerate the registry and learn who finances which invoices. The key is therefore
  an HMAC under a secret held by the platform (and shared with the banks that verify),
  deterministic so the same invoice always maps to the same key.

The invoice rule (written here once; the API, the CLI and the docs use this module; the
worked cases are ``tests/data/invoice_identity_cases.json``, shown in
docs/invoice-identity.md). Why so strict: the chain refuses a second certificate for the
same key, so any spelling of one invoice that maps to a second key is a second financing
of one receivable. Every text is first *folded*:

1. Unicode NFKC, case-folded, NFKC again (Unicode's NFKC_Casefold recipe): full-width and
   other compatibility forms become ASCII, capitals become small letters.
2. Separators removed: every format character (category Cf: zero-width space, soft hyphen,
   BOM, bidi marks), every space or line break (Z*, whitespace), every dash (Pd: hyphen,
   non-breaking hyphen, en/em dash, wave dash ...), every connector (Pc: ``_``), the
   separators people type (``/ \\ . , : ; | #`` and their CJK forms ``。、・·``) and the dash
   look-alikes Unicode files elsewhere (minus signs, ``ー`` U+30FC, box-drawing lines).
3. What remains must be ASCII digits and letters a-z; anything else (a Cyrillic ``А`` that
   looks like a Latin one, CJK characters, symbols, combining marks) is *refused* rather
   than kept: a look-alike kept would be a second key for one invoice.

Then the folded number (and code) is read as one of three kinds:

* ``digital``: 20 digits, no invoice code: a fully digital e-invoice (全电发票 / 数电票).
  Its digits 1-2 are the year (two digits; the first ones were issued in December 2021,
  so 21 or later), 3-4 the province or plan-listed city, 5 the issuing channel, 6-20 a
  sequence. No check digit is defined for it; only the year is checked (the two-digit
  codes of plan-listed cities are not published in what we found, so the region is not).
  Leading zeros added in front are dropped (a real number starts with its year).
* ``legacy``: an invoice code (发票代码) of 10 or 12 digits plus an invoice number (发票号码)
  of up to 8 digits, zero-padded to 8. Neither has a check digit (the 校验码 printed on
  some invoices is a verification code for the tax authority, not a check of these).
  The code's region part (digits 1-4 of 10, 2-5 of 12) must start with a mainland
  province code of GB/T 2260; its year, batch and kind digits are not checked. The code
  keeps its leading zero (its length is what tells 10 from 12). An all-digit number
  without a code is refused: legacy numbers repeat across codes, and one invoice filed
  once with its code and once without would get two keys.
* ``free``: anything holding a letter (contract or purchase-order numbers, test data).
  Each run of digits is compared without its leading zeros, *after* the separators are
  gone: ``INV-A-001`` = ``inv a 1`` = ``INVA0001``, and ``INV-2024-0001`` = ``INV20240001``
  but not ``INV-2024-1``. Why not drop zeros per separated group as well: with separators
  ignored that would make ``1001`` (= ``1-001`` = ``1-1``) equal ``11``.

The seller is always the beneficiary's registered, validated USCC; a ``seller_tax_id``
someone types is only checked against it (:func:`invoice_seller`), never used instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from eth_utils import keccak

#: GB 32100-2015 character set: digits and capitals without I, O, Z, S, V (31 symbols).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {char: index for index, char in enumerate(USCC_CHARSET)}
#: Weight of position i is 3**i mod 31 (GB 32100-2015, 附录).
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
USCC_LENGTH = 18

#: v2: the seller is a validated USCC and the invoice its canonical identity (kind-tagged).
#: v1 keys (whitespace-stripped free text) are not comparable with v2 keys.
_INVOICE_KEY_DOMAIN = b"scf-ledger/invoice-key/v2\x00"
_MIN_SECRET_BYTES = 16

#: Unicode categories that separate, never identify: format, spaces, dashes, connectors.
SEPARATOR_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Pd", "Pc"})
#: Separators people type, and dash look-alikes outside category Pd (after NFKC, so the
#: full-width forms are already their ASCII counterparts).
TYPED_SEPARATORS = frozenset(
    "/\\.,:;|#"
    "\u00b7\u2027\u30fb"  # middle dot, hyphenation point, katakana middle dot
    "\u3001\u3002"  # ideographic comma and full stop
    "\u2212\u02d7\u2043\u2796\u23af"  # minus sign, modifier minus, hyphen bullet, heavy minus
    "\u2500\u2501\u30fc"  # box-drawing lines, katakana-hiragana prolonged sound mark
)
_FOLDED_ALLOWED = re.compile(r"[0-9a-z]*")
_DIGITS = re.compile(r"[0-9]+")

#: Province-level codes of mainland China (GB/T 2260): the first two digits of a region.
PROVINCE_CODES = frozenset(
    str(code)
    for code in (
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
    )
)
DIGITAL_INVOICE_LENGTH = 20
DIGITAL_INVOICE_FIRST_YEAR = 21  # the pilot began in December 2021
LEGACY_CODE_LENGTHS = (10, 12)
LEGACY_NUMBER_LENGTH = 8

InvoiceKind = Literal["digital", "legacy", "free"]


class InvoiceIdentityError(ValueError):
    """An invoice number or code that has no canonical identity (the reason is the text)."""


class SellerMismatchError(ValueError):
    """A typed seller code that is not the beneficiary's registered one."""


def fold(text: str) -> str:
    """NFKC_Casefold ``text`` and remove every separator (see the module docstring).

    What remains is not checked here: callers refuse what their alphabet does not allow.
    """
    if not isinstance(text, str):
        raise TypeError(f"an identifier is a str, got {type(text).__name__}")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return "".join(
        c
        for c in folded
        if not (
            c.isspace() or c in TYPED_SEPARATORS or unicodedata.category(c) in SEPARATOR_CATEGORIES
        )
    )


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def normalize_uscc(uscc: str) -> str:
    """A code folded as invoice numbers are (full-width, spaces, hyphens), upper-cased."""
    return fold(uscc).upper()


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


def invoice_seller(registered_uscc: str, typed: str | None = None) -> str:
    """The seller of an invoice: the beneficiary's registered code, validated.

    ``typed`` (a ``seller_tax_id`` someone entered) may only confirm it: the same code in
    any spelling :func:`normalize_uscc` folds is accepted, anything else raises
    SellerMismatchError. Why not take the typed one: any other string made a new key for
    the same invoice.
    """
    seller = validate_uscc(registered_uscc)
    if typed is not None and normalize_uscc(typed) != seller:
        raise SellerMismatchError(
            f"the seller of the invoice is the beneficiary, whose registered unified social "
            f"credit code is {seller}; {typed!r} is not that code"
        )
    return seller


@dataclass(frozen=True)
class InvoiceIdentity:
    """One invoice, canonical: equal identities are one receivable."""

    kind: InvoiceKind
    number: str  # digital: 20 digits; legacy: 8 digits; free: folded, digit runs unpadded
    code: str | None = None  # legacy only: the 10- or 12-digit invoice code

    @property
    def canonical(self) -> str:
        """The ASCII text the invoice key is computed from, e.g. ``legacy:<code>:<number>``."""
        return ":".join(part for part in (self.kind, self.code, self.number) if part)


def _folded_or_refuse(text: str, what: str) -> str:
    folded = fold(text)
    if not folded:
        raise InvoiceIdentityError(f"{what} {text!r} is empty once separators are removed")
    end = _FOLDED_ALLOWED.match(folded).end()  # type: ignore[union-attr]
    if end < len(folded):
        raise InvoiceIdentityError(
            f"{what} {text!r} contains {_describe(folded[end])}: only digits, letters a-z "
            "and separators are allowed (a letter of another script can look like a Latin "
            "one, so it is refused rather than read as a different invoice)"
        )
    return folded


def _legacy_code(text: str) -> str:
    code = _folded_or_refuse(text, "invoice code")
    if not code.isdigit():
        raise InvoiceIdentityError(f"invoice code {text!r} must be digits only")
    if len(code) not in LEGACY_CODE_LENGTHS:
        hint = " (a 12-digit code whose leading 0 was lost?)" if len(code) == 11 else ""
        raise InvoiceIdentityError(
            f"invoice code {text!r} has {len(code)} digits: a legacy invoice code has 10 or "
            f"12{hint}"
        )
    region = code[0:4] if len(code) == 10 else code[1:5]
    if region[:2] not in PROVINCE_CODES:
        raise InvoiceIdentityError(
            f"invoice code {text!r}: its region {region} does not start with a province "
            "code of mainland China (GB/T 2260)"
        )
    return code


def canonical_invoice(invoice_number: str, invoice_code: str | None = None) -> InvoiceIdentity:
    """The canonical identity of an invoice, or InvoiceIdentityError saying why none exists.

    The rule is the module docstring's; ``invoice_code`` is the legacy 发票代码, absent for
    fully digital e-invoices and free-form numbers.
    """
    number = _folded_or_refuse(invoice_number, "invoice number")
    if invoice_code is not None:
        code = _legacy_code(invoice_code)
        value = number.lstrip("0")
        if not number.isdigit() or not value or len(value) > LEGACY_NUMBER_LENGTH:
            hint = (
                " (a fully digital e-invoice number has no invoice code)"
                if len(value) == DIGITAL_INVOICE_LENGTH
                else ""
            )
            raise InvoiceIdentityError(
                f"invoice number {invoice_number!r}: given with an invoice code, the number "
                f"is a legacy one of 1 to {LEGACY_NUMBER_LENGTH} digits, not all zeros{hint}"
            )
        return InvoiceIdentity("legacy", value.zfill(LEGACY_NUMBER_LENGTH), code)
    if number.isdigit():
        digits = number.lstrip("0")
        year_rule = (
            f"a fully digital e-invoice number is {DIGITAL_INVOICE_LENGTH} digits, "
            f"the first two its year ({DIGITAL_INVOICE_FIRST_YEAR} or later)"
        )
        if len(digits) != DIGITAL_INVOICE_LENGTH and len(number) >= DIGITAL_INVOICE_LENGTH:
            raise InvoiceIdentityError(
                f"invoice number {invoice_number!r} has {len(digits)} digits without its "
                f"leading zeros: {year_rule}"
            )
        if len(digits) != DIGITAL_INVOICE_LENGTH:
            raise InvoiceIdentityError(
                f"invoice number {invoice_number!r} has {len(number)} digits: an all-digit "
                f"number is either a {DIGITAL_INVOICE_LENGTH}-digit fully digital e-invoice "
                f"number or a legacy number of up to {LEGACY_NUMBER_LENGTH} digits given "
                "with its invoice_code (legacy numbers repeat across codes)"
            )
        if int(digits[:2]) < DIGITAL_INVOICE_FIRST_YEAR:
            raise InvoiceIdentityError(
                f"invoice number {invoice_number!r}: digits 1-2 of a fully digital e-invoice "
                f"number are its year, {DIGITAL_INVOICE_FIRST_YEAR} or later, not {digits[:2]}"
            )
        return InvoiceIdentity("digital", digits)
    return InvoiceIdentity("free", _DIGITS.sub(lambda m: m[0].lstrip("0") or "0", number))


def invoice_key(
    seller_uscc: str, invoice_number: str, *, secret: bytes, invoice_code: str | None = None
) -> bytes:
    """HMAC-SHA256 (32 bytes, the ledger's ``invoiceKey``) of one canonical invoice.

    ``seller_uscc`` is the beneficiary's registered code (:func:`invoice_seller`). The two
    parts are joined with a NUL, which neither contains; a versioned domain tag keeps the
    key from being reused elsewhere and marks the rule it was computed under.
    """
    if not isinstance(secret, bytes | bytearray) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"the invoice-key secret must be at least {_MIN_SECRET_BYTES} bytes")
    message = (
        _INVOICE_KEY_DOMAIN
        + validate_uscc(seller_uscc).encode("ascii")
        + b"\x00"
        + canonical_invoice(invoice_number, invoice_code).canonical.encode("ascii")
    )
    return hmac.new(bytes(secret), message, hashlib.sha256).digest()
