"""Standing bids' tenor bands, as BidBook.sol packs them, and the rate a band gives.

Why here: a bid's rates by tenor travel as one 256-bit word (``BidTerms.rateBands``), so
that a sale reads them in one storage slot. Lane ``i`` (bits ``32*i .. 32*i+31``) is
``(up_to_days << 16) | rate_bps``, lowest tenor first, up to :data:`RATE_BAND_LIMIT`
lanes, the first empty lane ending them; a fragment with ``d`` whole days to maturity is
priced at the rate of the first band with ``d <= up_to_days`` and at least the bid's
``min_days``. Everything that builds, shows or re-prices a bid (the client, the API's
quotes, the verifier) packs and reads the word here, and this module mirrors the
contract's rule line for line (tests/contracts/test_bids.py checks both against the chain).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from chain_client.discount import MAX_RATE_BPS

#: BidBook.RATE_BAND_LIMIT: most tenor bands a bid may have.
RATE_BAND_LIMIT = 8
_LANE = 32
#: BidTerms' fields in the struct's order (LedgerTypes.sol)
_TERM_FIELDS = ("rateBands", "minDays", "minAmount", "maxAmount", "perSellerLimit", "expiresAt")
_MASK = (1 << _LANE) - 1


@dataclass(frozen=True)
class RateBand:
    """Fragments with up to ``up_to_days`` whole days to maturity (and more than the band
    before) are bought at ``rate_bps`` a year."""

    up_to_days: int
    rate_bps: int


def pack_rate_bands(bands: Iterable[RateBand | tuple[int, int]]) -> int:
    """The word of ``bands`` (lowest tenor first). ValueError for what the contract refuses
    (InvalidRateBands, InvalidRate): none or too many, days not strictly increasing from
    above zero or above 65535, a rate above MAX_RATE_BPS."""
    word = 0
    previous = 0
    items = [b if isinstance(b, RateBand) else RateBand(*b) for b in bands]
    if not 1 <= len(items) <= RATE_BAND_LIMIT:
        raise ValueError(f"a bid has 1 to {RATE_BAND_LIMIT} tenor bands, not {len(items)}")
    for i, band in enumerate(items):
        if not previous < band.up_to_days <= 0xFFFF:
            raise ValueError(f"band {i + 1}: up_to_days must rise above {previous}, up to 65535")
        if not 0 <= band.rate_bps <= MAX_RATE_BPS:
            raise ValueError(f"band {i + 1}: rate_bps must be 0..{MAX_RATE_BPS}")
        word |= ((band.up_to_days << 16) | band.rate_bps) << (_LANE * i)
        previous = band.up_to_days
    return word


def unpack_rate_bands(word: int) -> list[RateBand]:
    """The bands of a packed word, lowest tenor first."""
    bands = []
    for i in range(RATE_BAND_LIMIT):
        lane = (word >> (_LANE * i)) & _MASK
        if lane == 0:
            break
        bands.append(RateBand(up_to_days=lane >> 16, rate_bps=lane & 0xFFFF))
    return bands


def rate_for(bands: Sequence[RateBand], min_days: int, days: int) -> int | None:
    """The rate a bid with ``bands`` and ``min_days`` buys a fragment ``days`` from maturity
    at, or None if the tenor is outside it (the contract's TenorOutOfRange)."""
    if days < min_days:
        return None
    for band in bands:
        if days <= band.up_to_days:
            return band.rate_bps
    return None


class BidStatus(IntEnum):
    """BidStatus in LedgerTypes.sol."""

    NONE = 0
    OPEN = 1
    CANCELLED = 2


@dataclass(frozen=True)
class BidTerms:
    """What a funder sets on a standing bid and may change (BidTerms in LedgerTypes.sol):
    rates by tenor band, the shortest tenor, the smallest and largest amount per sale (fen),
    the most bought from one seller in all (0: no such limit), the last moment of sale."""

    bands: tuple[RateBand, ...]
    min_days: int
    min_amount: int
    max_amount: int
    per_seller_limit: int
    expires_at: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The ABI tuple (rateBands packed)."""
        return (
            pack_rate_bands(self.bands),
            int(self.min_days),
            int(self.min_amount),
            int(self.max_amount),
            int(self.per_seller_limit),
            int(self.expires_at),
        )

    @classmethod
    def from_tuple(cls, values: Sequence[int] | Mapping[str, int]) -> BidTerms:
        """The terms of an ABI tuple (or its JSON list, or the struct as a decoder's mapping
        of its field names): the inverse of :meth:`as_tuple`."""
        if isinstance(values, Mapping):
            values = [values[name] for name in _TERM_FIELDS]
        bands, min_days, min_amount, max_amount, per_seller, expires_at = (int(v) for v in values)
        return cls(
            bands=tuple(unpack_rate_bands(bands)),
            min_days=min_days,
            min_amount=min_amount,
            max_amount=max_amount,
            per_seller_limit=per_seller,
            expires_at=expires_at,
        )

    def rate_for(self, days: int) -> int | None:
        """The rate these terms buy at with ``days`` whole days to maturity, or None."""
        return rate_for(self.bands, self.min_days, days)


@dataclass(frozen=True)
class Bid:
    """A standing bid as the bid book stores it."""

    id: int
    funder: str
    status: BidStatus
    remaining: int
    terms: BidTerms

    @property
    def is_open(self) -> bool:
        return self.status == BidStatus.OPEN
