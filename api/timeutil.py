"""Wall-clock helpers (timezone-aware UTC everywhere; chain time is block time, not this)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
