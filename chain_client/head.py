"""A short-lived, shared view of the latest block, per Web3.

Why: every transaction used to fetch the latest block twice (the block gas limit to cap
the gas estimate, the base fee to price it) and once more to find out whether the chain
uses EIP-1559 at all. Those facts change slowly: the gas limit by at most 1/1024 per block,
the base fee by at most 12.5 % per block (and new transactions offer twice the base fee),
the presence of a base fee only at a hard fork. So all senders of one Web3 share one
``eth_getBlockByNumber("latest")`` per ``max_age`` seconds.

The callers decide what staleness they accept: ``max_age=0`` always asks the node.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from web3 import Web3

#: Default age (seconds) of a cached latest block that callers accept.
DEFAULT_MAX_AGE = 1.0

_cache: weakref.WeakKeyDictionary[Any, tuple[float, Mapping[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


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
        block = w3.eth.get_block("latest")
        _cache[w3] = (fetched_at, block)
        return block


def forget(w3: Web3) -> None:
    """Drop the cached block of ``w3`` (e.g. after a node reset)."""
    with _guard:
        _cache.pop(w3, None)
