"""Amounts typed by people (yuan, with separators) to and from integer fen, exactly.

Why not Decimal or float: the money rule is integers end to end, and a string parse that
refuses a third decimal place is simpler to trust than any rounding mode.
"""

from __future__ import annotations

import re

#: ASCII digits only: ``\d`` would take any Unicode decimal digit (``１００`` read as 100).
_AMOUNT = re.compile(r"^(?P<yuan>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<cents>[0-9]{1,2}))?$")


class AmountError(ValueError):
    """An amount a person typed that is not a positive yuan amount with at most 2 decimals."""


def parse_cny(text: str) -> int:
    """'1,000,000.00' -> 100000000 fen; '0.01' -> 1; refuses '1.001', '-5', '1e3', ''."""
    cleaned = text.strip().removeprefix("¥").removesuffix("CNY").strip()
    match = _AMOUNT.match(cleaned)
    if not match:
        raise AmountError(
            f"{text!r} is not an amount in yuan: use digits with at most two decimals, "
            "e.g. 300000 or 1,000,000.00"
        )
    yuan = int(match["yuan"].replace(",", ""))
    cents = int((match["cents"] or "0").ljust(2, "0"))
    return yuan * 100 + cents


def format_cny(fen: int | str) -> str:
    """100000000 -> '1,000,000.00' (negative amounts keep their sign)."""
    value = int(fen)
    sign = "-" if value < 0 else ""
    yuan, cents = divmod(abs(value), 100)
    return f"{sign}{yuan:,}.{cents:02d}"
