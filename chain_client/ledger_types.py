"""Typed views of the ledger's on-chain records, shared by the client, the API and scripts.

Money is `int` fen everywhere; timestamps are `int` Unix seconds (block time); ids are the
contract's: certificates count from 1, and a fragment id is `(certificate_id << 32) | seq`.
These mirror contracts/ledger/LedgerTypes.sol and the id packing of
contracts/ledger/FragmentIds.sol; change both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

FRAGMENT_SEQ_BITS = 32
#: the largest seq a certificate's fragments can have (the low 32 bits of an id)
MAX_SEQ = (1 << FRAGMENT_SEQ_BITS) - 1


class Role(IntEnum):
    NONE = 0
    CORE_ENTERPRISE = 1
    SUPPLIER = 2
    FINANCIER = 3


class CertificateStatus(IntEnum):
    NONE = 0
    ISSUED = 1
    ACTIVE = 2
    REJECTED = 3
    REVOKED = 4
    SETTLED = 5
    OVERDUE = 6
    DEFAULTED = 7

    @property
    def label(self) -> str:
        """The name the API and the read model use (``"active"``)."""
        return self.name.lower()


class OfferStatus(IntEnum):
    NONE = 0
    OPEN = 1
    ACCEPTED = 2
    WITHDRAWN = 3


def fragment_id_of(certificate_id: int, seq: int) -> int:
    """The id of the `seq`-th fragment of a certificate (same rule as the contract)."""
    return (certificate_id << FRAGMENT_SEQ_BITS) | seq


def certificate_id_of(fragment_id: int) -> int:
    """The root certificate of a fragment, read off its id."""
    return fragment_id >> FRAGMENT_SEQ_BITS


def seq_of(fragment_id: int) -> int:
    """The fragment's number inside its certificate (0 is the root fragment)."""
    return fragment_id & MAX_SEQ


def is_root_fragment(fragment_id: int) -> bool:
    """Seq 0 is the certificate's first fragment, the only one without a parent."""
    return seq_of(fragment_id) == 0


def fragment_id_bounds(certificate_id: int) -> tuple[int, int]:
    """``(first, end)``: every fragment of the certificate has ``first <= id < end``.

    The read model stores fragment (and offer) ids as integers, so "all of a certificate's
    fragments" is this range, an index scan, not a join."""
    return fragment_id_of(certificate_id, 0), fragment_id_of(certificate_id + 1, 0)


def format_fragment_id(fragment_id: int) -> str:
    """The short form people read and type: ``certificate/seq`` (``1/2``)."""
    return f"{certificate_id_of(fragment_id)}/{seq_of(fragment_id)}"


def parse_fragment_id(text: str) -> int:
    """A fragment id from any of the forms this project prints, or ``ValueError``.

    The one syntax, everywhere (CLI, verifier, scripts): the id in decimal
    (``4294967298``), in hex (``0x100000002``), or ``certificate/seq`` (``1/2``). ASCII
    digits only: ``int()`` alone would take full-width and other Unicode digits. The id
    must name a real certificate (>= 1) and fit the contract's uint256 packing."""
    raw = text.strip()
    if "/" in raw:
        certificate, _, seq = raw.partition("/")
        if is_ascii_decimal(certificate) and is_ascii_decimal(seq) and int(seq) <= MAX_SEQ:
            value = fragment_id_of(int(certificate), int(seq))
            if certificate_id_of(value) >= 1:
                return value
    elif raw[:2].lower() == "0x" and raw[2:] and all(c in _HEX_DIGITS for c in raw[2:]):
        value = int(raw, 16)
        if certificate_id_of(value) >= 1 and value < 2**256:
            return value
    elif is_ascii_decimal(raw):
        value = int(raw)
        if certificate_id_of(value) >= 1 and value < 2**256:
            return value
    raise ValueError(
        f"{text!r} is not a fragment id: use its id (4294967296), hex (0x100000000)"
        " or certificate/seq (1/0)"
    )


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def is_ascii_decimal(text: str) -> bool:
    """Only ``0``-``9``: ``str.isdigit`` alone also takes ``²``, full-width and other
    scripts' digits, some of which ``int`` then reads as numbers and some it refuses."""
    return bool(text) and text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Member:
    address: str
    role: Role
    suspended: bool
    org_id_hash: bytes


@dataclass(frozen=True)
class CreditLine:
    financier: str
    core_enterprise: str
    limit: int
    used: int

    @property
    def available(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class Certificate:
    id: int
    issuer: str
    beneficiary: str
    credit_provider: str
    face_value: int
    maturity: int
    issued_at: int
    status: CertificateStatus
    fragment_count: int
    repaid: int
    paid_out: int
    invoice_key: bytes
    document_hash: bytes

    @property
    def outstanding(self) -> int:
        """What the issuer still owes (0 once settled; the full face value while pending)."""
        return self.face_value - self.repaid

    def is_matured(self, now: int) -> bool:
        return now >= self.maturity


@dataclass(frozen=True)
class Fragment:
    id: int
    certificate_id: int
    parent_id: int | None  # None for the root fragment
    holder: str
    value: int
    paid: int

    @property
    def seq(self) -> int:
        return seq_of(self.id)


@dataclass(frozen=True)
class Offer:
    id: int
    fragment_id: int
    seller: str
    financier: str
    amount: int
    rate_bps: int
    expires_at: int
    status: OfferStatus


@dataclass(frozen=True)
class Quote:
    """The price of a financing by DiscountMath's rule: payment = amount - discount."""

    days: int
    discount: int
    payment: int


@dataclass(frozen=True)
class TxOutcome:
    """A mined transaction and the value the ledger returned through its events."""

    tx_hash: str
    block_number: int
    gas_used: int
    value: int | None = None  # e.g. the new certificate / fragment / offer id, or fen paid


@dataclass(frozen=True)
class RepaymentStatus:
    """Where a certificate's repayment stands (all fen), as read at ``as_of`` (block time).

    ``unclaimed`` is what was paid in but not yet paid out to holders; ``overdue_at`` is
    maturity plus the ledger's grace period, extended by the time the ledger was paused
    since maturity, after which anyone may mark it overdue.
    """

    certificate_id: int
    status: CertificateStatus
    face_value: int
    repaid: int
    paid_out: int
    maturity: int
    overdue_at: int
    as_of: int

    @property
    def outstanding(self) -> int:
        return self.face_value - self.repaid

    @property
    def unclaimed(self) -> int:
        return self.repaid - self.paid_out

    @property
    def matured(self) -> bool:
        return self.as_of >= self.maturity

    @property
    def settled(self) -> bool:
        return self.repaid == self.face_value

    @property
    def fully_paid_out(self) -> bool:
        return self.settled and self.paid_out == self.repaid
