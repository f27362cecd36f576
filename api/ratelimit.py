"""Per-organization rate limits on commands: a token bucket per organization.

Why: every command a member sends is a transaction the platform pays gas for (splitting
1-fen fragments in a loop costs the member nothing), and uploads fill the platform's
storage. An organization may send ``burst`` commands at once and ``rate`` a second for as
long as it likes; beyond that it gets 429 ``rate_limited`` with ``Retry-After`` (the whole
seconds until one more command fits), before anything is journaled, so a retry with the
same Idempotency-Key simply runs. Reads are not limited (they cost no gas); the operator
is not limited (it is the platform itself: onboarding a network is a burst of commands).

Several worker processes (``SCF_WORKERS``) share one bucket per organization: the buckets
live in a file in the data folder (:class:`SharedBuckets`, 16 bytes per organization at
the offset of its id, read and written under an ``flock``), the way the workers already
share nonces and SQLite's write queue, and like them this needs the workers on one machine
(``CLOCK_MONOTONIC`` is one clock for all processes of a machine). A command costs one
lock and two small ``pread``/``pwrite`` calls, no database round trip. One process keeps
its buckets in memory (:class:`LocalBuckets`).

On PostgreSQL the instances of a service may run on several machines, and the limit is
the organization's, not an instance's: the buckets live in the ``rate_buckets`` table
(:class:`PgBuckets`), one statement per command that refills, takes and stores, by the
database's clock (the machines' monotonic clocks are not one clock). Per-instance buckets
would let an organization send N times its limit through N instances behind a balancer.
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import threading
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text

from api.auth import OPERATOR, Principal
from api.db import is_postgres, read_only
from api.problems import Problem
from api.settings import Settings

_RECORD = struct.Struct("<dd")  # tokens left, monotonic time they were counted at


class RateLimited(Problem):
    """429 with ``Retry-After``: the organization sent more commands than its limit."""

    def __init__(self, retry_after: int, rate: float, burst: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            "Too many commands",
            f"Your organization may send {burst} commands at once and {rate:g} a second "
            f"after that; retry in {retry_after} s (with the same Idempotency-Key: this "
            "request was not recorded).",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )


def refill(tokens: float, counted_at: float, now: float, rate: float, burst: int) -> float:
    """Tokens in a bucket counted at ``counted_at`` with ``tokens``, at ``now``. A time in
    the future (a record older than the machine's last boot) counts as a full bucket."""
    if counted_at > now or counted_at == 0.0:
        return float(burst)
    return min(float(burst), tokens + (now - counted_at) * rate)


class Buckets(Protocol):
    def take(self, org_id: int, rate: float, burst: int, now: float) -> float: ...


class LocalBuckets:
    """The buckets of a single process, in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, org_id: int, rate: float, burst: int, now: float) -> float:
        """Take one token; returns the seconds until one is available (0: taken)."""
        with self._lock:
            tokens, at = self._buckets.get(org_id, (0.0, 0.0))
            tokens, wait = _take(refill(tokens, at, now, rate, burst), rate)
            self._buckets[org_id] = (tokens, now)
            return wait


class SharedBuckets:
    """The buckets of all processes of a server, in one file (see the module text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # threads of this process (an flock is per file)
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def take(self, org_id: int, rate: float, burst: int, now: float) -> float:
        offset = org_id * _RECORD.size
        with self._lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _RECORD.size, offset)
                tokens, at = _RECORD.unpack(raw) if len(raw) == _RECORD.size else (0.0, 0.0)
                tokens, wait = _take(refill(tokens, at, now, rate, burst), rate)
                os.pwrite(fd, _RECORD.pack(tokens, now), offset)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return wait

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_REFILLED = (
    "LEAST(CAST(:burst AS double precision), b.tokens + GREATEST(0.0, CAST(EXTRACT(EPOCH "
    "FROM (now() - b.counted_at)) AS double precision)) * CAST(:rate AS double precision))"
)
_TAKE = text(
    "INSERT INTO rate_buckets AS b (org_id, tokens, counted_at, granted) "
    "VALUES (:org_id, CAST(:burst AS double precision) - 1, now(), true) "
    "ON CONFLICT (org_id) DO UPDATE SET "
    f"tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END, "
    f"granted = {_REFILLED} >= 1, counted_at = now() "
    "RETURNING tokens, granted"
)


class PgBuckets:
    """The buckets of every instance sharing a PostgreSQL database (see the module text):
    the row is locked by the statement, so concurrent commands of one organization, on
    any machine, take its tokens one after the other. ``now`` is not used: the
    database's clock is."""

    def __init__(self, engine: Engine) -> None:
        self.engine = read_only(engine)  # one statement, in autocommit

    def take(self, org_id: int, rate: float, burst: int, now: float) -> float:
        with self.engine.connect() as conn:
            tokens, granted = conn.execute(
                _TAKE, {"org_id": org_id, "rate": rate, "burst": burst}
            ).one()
            conn.commit()
        return 0.0 if granted else (1.0 - float(tokens)) / rate


def _take(tokens: float, rate: float) -> tuple[float, float]:
    """(tokens left, seconds to wait): one token taken, or the wait for the next one."""
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class RateLimiter:
    """The limit of one server: ``rate`` commands a second after a ``burst``; a rate of
    0 turns the limit off."""

    def __init__(self, rate: float, burst: int, buckets: Buckets | None = None) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.buckets: Buckets = buckets or LocalBuckets()

    @classmethod
    def for_settings(cls, settings: Settings, engine: Engine | None = None) -> RateLimiter:
        """Buckets in the database on PostgreSQL (``engine``), shared through a file when
        the server runs several worker processes, else in memory."""
        buckets: Buckets
        if engine is not None and is_postgres(engine):
            buckets = PgBuckets(engine)
        elif settings.several_workers:
            buckets = SharedBuckets(settings.rate_limit_file)
        else:
            buckets = LocalBuckets()
        return cls(settings.rate_limit_per_second, settings.rate_limit_burst, buckets)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, principal: Principal) -> None:
        """Count one command of the caller's organization, or raise :class:`RateLimited`
        (the operator is not limited: see the module text)."""
        if not self.enabled or principal.role == OPERATOR:
            return
        wait = self.buckets.take(principal.org_id, self.rate, self.burst, time.monotonic())
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)), self.rate, self.burst)
