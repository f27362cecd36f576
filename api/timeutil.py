"""Wall-clock helpers (timezone-aware UTC everywhere; chain time is block time, not this)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

#: China Standard Time: no daylight saving, so a fixed offset is exact and needs no tz data.
CST = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes of what was stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def china_date(ts: int) -> str:
    """A Unix time (block time) as its date in China ("2027-06-30"): the business's day."""
    return datetime.fromtimestamp(int(ts), tz=UTC).astimezone(CST).strftime("%Y-%m-%d")
