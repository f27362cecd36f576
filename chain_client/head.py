"""A short-lived, shared view of the latest block, per Web3.

Why: every transaction used to fetch the latest block twice (the block gas limit to cap
the gas estimate, the base fee to price it) and once more to find out whether the chain
uses EIP-1559 at all. Those facts change slowly: the gas limit by at most 1/1024 per block,
the base fee by at most 12.5 % per block (and new transactions offer twice the base fee),
the presence of a base fee only at a hard fork. So all senders of one Web3 share one
``eth_getBlockByNumber("latest")`` per ``max_age`` seconds.

The callers decide what staleness they accept: ``max_age=0`` always asks the node.

The block period (:func:`block_period`) is measured here too, from the timestamps of the
latest blocks, because the chain is its only honest source: a consortium node's
configuration is not ours to read, and the period is what the send path paces itself by
(:func:`chain_client.transactions.pacing`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from web3 import Web3

from chain_client import retry

#: Default age (seconds) of a cached latest block that callers accept.
DEFAULT_MAX_AGE = 1.0
#: Chain ids of local development chains, which mine a block when a transaction arrives
#: (anvil's and Hardhat's 31337, Ganache's and ``geth --dev``'s 1337): they have no period.
DEV_CHAIN_IDS = frozenset({31337, 1337})
#: Block spacings averaged to measure the period (block timestamps are whole seconds).
PERIOD_SAMPLE = 8
#: How long (seconds) a measured period is trusted before it is measured again.
PERIOD_MAX_AGE = 600.0

_cache: weakref.WeakKeyDictionary[Any, tuple[float, Mapping[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()
_periods: weakref.WeakKeyDictionary[Any, tuple[float, float | None]] = weakref.WeakKeyDictionary()


def latest_block(w3: Web3, max_age: float = DEFAULT_MAX_AGE) -> Mapping[str, Any]:
    """The latest block header as web3 returns it, fetched at most ``max_age`` s ago."""
    if max_age > 0:
        entry = _cache.get(w3)
        if entry is not None and time.monotonic() - entry[0] <= max_age:
            return entry[1]
    with _guard:
        lock = _locks.setdefault(w3, threading.Lock())
    with lock:  # one fetch when many threads find the entry expired at once
        if max_age > 0:
            entry = _cache.get(w3)
            if entry is not None and time.monotonic() - entry[0] <= max_age:
                return entry[1]
        fetched_at = time.monotonic()
        block = retry.call(w3.eth.get_block, "latest")
        _cache[w3] = (fetched_at, block)
        return block


def block_period(w3: Web3, max_age: float = PERIOD_MAX_AGE) -> float | None:
    """Seconds between blocks, measured at most ``max_age`` s ago; None for a chain that
    mines on demand.

    The mean spacing of the latest :data:`PERIOD_SAMPLE` blocks (genesis left out: its
    timestamp is whatever the chain's creator wrote). None for a development chain
    (:data:`DEV_CHAIN_IDS`): an anvil mines a block per transaction unless told otherwise,
    and even with interval mining it is one process whose blocks cannot fork, so nothing
    there needs pacing by a period (and its tests keep today's timing). A chain too young to
    measure (fewer than two blocks after genesis) also answers None, without remembering it.
    """
    entry = _periods.get(w3)
    if entry is not None and time.monotonic() - entry[0] <= max_age:
        return entry[1]
    measured_at = time.monotonic()
    if int(retry.call(lambda: w3.eth.chain_id)) in DEV_CHAIN_IDS:
        period = None
    else:
        head = latest_block(w3, 0)
        number = int(head["number"])
        spacings = min(PERIOD_SAMPLE, number - 1)
        if spacings < 1:
            return None  # too young: ask again next time
        older = retry.call(w3.eth.get_block, number - spacings)
        seconds = int(head["timestamp"]) - int(older["timestamp"])
        period = seconds / spacings if seconds > 0 else None
    with _guard:
        _periods[w3] = (measured_at, period)
    return period


def forget(w3: Web3) -> None:
    """Drop the cached block and block period of ``w3`` (e.g. after a node reset)."""
    with _guard:
        _cache.pop(w3, None)
        _periods.pop(w3, None)
