"""The discount rule of DiscountMath.sol, in Python, for quoting before anything is signed.

Why a mirror: the API quotes a price to a supplier and a bank before an offer exists on
chain, and the bank's verifier re-prices accepted financings. Both must agree with the
contract to the fen, so this module is the contract's rule line for line (integers only,
the same floor divisions in the same order) and is tested against the hand-checked
examples in tests/data/discount_examples.json and against the chain itself.

Rule (Chinese bank convention, both roundings in the financier's disfavor):

* ``days = floor((maturity - value_date) / 86400)``, 0 if already matured;
* ``discount = floor(amount * rate_bps * days / (10000 * 360))`` (simple interest, ACT/360);
* ``payment = amount - discount``; the contract refuses a price with ``discount >= amount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain_client.ledger_types import Quote

SECONDS_PER_DAY = 86_400
BPS_DENOMINATOR = 10_000
DAY_COUNT_BASIS = 360
#: Highest rate an offer may carry (Financing.MAX_RATE_BPS: 100% a year).
MAX_RATE_BPS = 10_000


def _require_int(name: str, value: Any, *, minimum: int = 0) -> int:
    # bool is an int subclass and float would silently round: refuse both (money rule).
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def days_to_maturity(value_date: int, maturity: int) -> int:
    """Whole days from ``value_date`` to ``maturity`` (Unix seconds); 0 if matured."""
    _require_int("value_date", value_date)
    _require_int("maturity", maturity)
    return (maturity - value_date) // SECONDS_PER_DAY if maturity > value_date else 0


def discount(amount: int, rate_bps: int, days: int) -> int:
    """``floor(amount * rate_bps * days / (10000 * 360))`` fen."""
    _require_int("amount", amount)
    _require_int("rate_bps", rate_bps)
    _require_int("days", days)
    return (amount * rate_bps * days) // (BPS_DENOMINATOR * DAY_COUNT_BASIS)


@dataclass(frozen=True)
class DiscountQuote(Quote):
    """A :class:`Quote` that also carries its inputs, so it can show its arithmetic.

    Why: a supplier's accountant and a bank's credit officer should be able to check the
    price by hand; :meth:`steps` is what the API's quote endpoint returns beside the numbers.
    """

    amount: int
    rate_bps: int
    value_date: int
    maturity: int

    def steps(self) -> list[dict[str, str]]:
        """Each step of the computation: what, formula with the numbers, result."""
        seconds = max(self.maturity - self.value_date, 0)
        numerator = self.amount * self.rate_bps * self.days
        denominator = BPS_DENOMINATOR * DAY_COUNT_BASIS
        return [
            {
                "step": "days",
                "rule": "floor((maturity - value_date) / 86400), 0 if already matured",
                "computation": f"floor(({self.maturity} - {self.value_date}) / 86400)"
                f" = floor({seconds} / 86400)",
                "result": str(self.days),
            },
            {
                "step": "discount",
                "rule": "floor(amount_fen * rate_bps * days / (10000 * 360)), ACT/360, "
                "rounded down to the fen (in the financier's disfavor)",
                "computation": f"floor({self.amount} * {self.rate_bps} * {self.days} / "
                f"{denominator}) = floor({numerator} / {denominator})",
                "result": str(self.discount),
            },
            {
                "step": "payment",
                "rule": "amount_fen - discount_fen, paid to the seller in the settlement token",
                "computation": f"{self.amount} - {self.discount}",
                "result": str(self.payment),
            },
        ]

    def explain(self) -> str:
        """The steps as a few lines of text (amounts in fen)."""
        return "\n".join(f"{s['step']}: {s['computation']} = {s['result']}" for s in self.steps())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: money as strings (the project's rule for JSON), steps included."""
        return {
            "amount_fen": str(self.amount),
            "rate_bps": self.rate_bps,
            "value_date": self.value_date,
            "maturity": self.maturity,
            "days": self.days,
            "discount_fen": str(self.discount),
            "payment_fen": str(self.payment),
            "steps": self.steps(),
        }


def quote(amount: int, rate_bps: int, value_date: int, maturity: int) -> DiscountQuote:
    """Price ``amount`` fen at ``rate_bps`` a year, paid on ``value_date``, due ``maturity``.

    Raises ValueError for inputs the contract would refuse: amount 0, a rate above
    MAX_RATE_BPS, or a discount that eats the whole amount (``DiscountExceedsAmount``).
    """
    _require_int("amount", amount, minimum=1)
    _require_int("rate_bps", rate_bps)
    if rate_bps > MAX_RATE_BPS:
        raise ValueError(f"rate_bps {rate_bps} exceeds the maximum of {MAX_RATE_BPS}")
    days = days_to_maturity(value_date, maturity)
    interest = discount(amount, rate_bps, days)
    if interest >= amount:
        raise ValueError(
            f"discount {interest} fen would be >= the amount {amount} fen "
            "(the ledger refuses it: DiscountExceedsAmount)"
        )
    return DiscountQuote(
        days=days,
        discount=interest,
        payment=amount - interest,
        amount=amount,
        rate_bps=rate_bps,
        value_date=value_date,
        maturity=maturity,
    )


def annual_cost_bps(discount_fen: int, payment_fen: int, days: int) -> int:
    """The all-in cost of a financing as a simple yearly rate on the cash received, in basis
    points, rounded half up: ``discount / payment x 360 / days``.

    Why this form: a discount rate is charged on the face amount, but the supplier gets
    the payment, so a 3.60% discount costs more than a 3.60% loan. Chinese bank loans
    quote simple interest a year on ACT/360 on the money lent; this is that rate for the
    money received, so a supplier can set the two side by side. 0 when nothing is owed
    or no whole day is left."""
    _require_int("discount_fen", discount_fen)
    _require_int("payment_fen", payment_fen, minimum=1)
    _require_int("days", days)
    if days == 0 or discount_fen == 0:
        return 0
    numerator = discount_fen * DAY_COUNT_BASIS * BPS_DENOMINATOR
    denominator = payment_fen * days
    return (2 * numerator + denominator) // (2 * denominator)


def percent_text(bps: int) -> str:
    """Basis points as a percentage with two decimals ("3.63"), from integers only."""
    _require_int("bps", bps)
    return f"{bps // 100}.{bps % 100:02d}"
