"""Is a node's view of the chain current? The head's age by the wall clock, and the head
compared with other organizations' nodes.

Why: every answer read from a node is the chain as that node has it. A node that stopped
syncing still answers, consistently and wrongly: a bank's verifier run against a node 17
blocks behind reported a settled certificate as ``ACTIVE, repaid 0`` and passed. Nothing in
the state read says it is old; only the head does.

Two measures, both reported with their numbers:

* **The head's age by the wall clock.** A Clique (PoA) network seals a block every period,
  empty or not, so an old head means this node is behind or the network has halted. The
  limit, ``max_head_age``, follows the chain when not given: :data:`HEAD_AGE_PERIODS` block
  periods, the period measured as the median interval of the last
  :data:`PERIOD_SAMPLE_BLOCKS` blocks (the median, so one long pause in that window does not
  stretch the limit), and never under :data:`MIN_HEAD_AGE`. A chain that mines only when a
  transaction comes (anvil's or hardhat's automine, a dev chain) has heads as old as its last
  transaction, so there the wall clock says nothing and is not applied (the age is still
  reported); :func:`mines_on_demand` asks the node.
* **The head against reference nodes** (another organization's node of the same network):
  how many blocks this node is behind, and whether both have the same block at the lower of
  the two heights, so a node on another fork shows even when it is not behind. This applies
  to every chain, automine included: a block the reference has and this node has not is a
  transaction this node has not seen.

:func:`judge` decides from plain numbers (tests give it doctored ones); :func:`assess` reads
them from the nodes. The clock is a parameter (``now``), so tests need not wait.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from web3 import Web3
from web3.types import BlockIdentifier, RPCEndpoint

from chain_client.connection import connect

#: Block periods a head may be old before the node counts as stale. Why several: a Clique
#: signer out of turn waits a random delay before sealing, a missed turn delays the next
#: block by up to a period, and the head reaches peers a moment after it is sealed; a node
#: missing several periods in a row is not keeping up.
HEAD_AGE_PERIODS = 5

#: The floor of the default limit, in seconds. Why: the head's time is the sealer's clock
#: and ``now`` this machine's; unsynchronized clocks drift by seconds, and on a 1-second
#: chain five periods would be the time of a slow HTTP round trip.
MIN_HEAD_AGE = 30.0

#: Blocks whose timestamps measure the block period (one batched request).
PERIOD_SAMPLE_BLOCKS = 16

#: Blocks this node may be behind a reference before it counts as stale. Why not 0: the
#: reference's head is read first and this node's after it, so reading cannot put this node
#: behind, but a just-sealed block reaches the reference and this node at slightly different
#: moments (propagation), so a healthy node can be a block behind; two leaves room for that.
DEFAULT_MAX_LAG_BLOCKS = 2

#: anvil's and hardhat's default chain id: a development chain, mining on demand, when the
#: node cannot say how it mines.
DEV_CHAIN_ID = 31337


@dataclass(frozen=True)
class Head:
    """A block as far as freshness needs it."""

    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class ReferenceComparison:
    """This node's head against one reference node's.

    ``lag_blocks``: the reference's head minus this node's (negative: this node is ahead);
    ``compared_block``: the lower of the two heads, where both nodes' hashes are read.
    """

    url: str  # scheme://host:port only: a path, query or user part often carries a key
    chain_id: int | None = None
    head_number: int | None = None
    lag_blocks: int | None = None
    compared_block: int | None = None
    our_hash: str | None = None
    their_hash: str | None = None
    hashes_match: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class Freshness:
    """What was measured, and the verdict: ``stale`` if any problem was found."""

    chain_id: int
    head_number: int
    head_hash: str
    head_timestamp: int
    checked_at: int  # the wall clock's time (seconds) when the head was judged
    age_seconds: int  # checked_at - head_timestamp; negative if the head is in our future
    wall_clock_applies: bool
    mining: str  # why the wall clock applies or not
    block_period_seconds: float | None  # measured; None on demand-mining chains or too few blocks
    max_head_age_seconds: float
    max_head_age_source: str  # "given", "measured" (HEAD_AGE_PERIODS periods) or "floor"
    max_lag_blocks: int
    references: list[ReferenceComparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stale: bool = False
    stale_allowed: bool = False  # stale, and the caller accepts answers from a stale node

    def describe(self) -> str:
        """One paragraph: the problems if stale, else the numbers that say it is current."""
        if self.problems:
            return "; ".join(self.problems)
        if self.wall_clock_applies:
            limit = self.max_head_age_seconds
            parts = [
                f"head {self.head_number} sealed {_ago(self.age_seconds)}, within the "
                f"{_seconds(limit)} limit ({_limit_source(self)})"
            ]
        else:
            parts = [
                f"head {self.head_number} sealed {_ago(self.age_seconds)}; the wall clock is "
                f"not applied: {self.mining}"
            ]
        for ref in self.references:
            if ref.lag_blocks is not None and ref.lag_blocks > 0:
                where = (
                    f"{ref.lag_blocks} block(s) behind, within the limit of {self.max_lag_blocks}"
                )
            elif ref.lag_blocks is not None and ref.lag_blocks < 0:
                where = f"{-ref.lag_blocks} block(s) ahead"
            else:
                where = "at the same height"
            parts.append(
                f"reference {ref.url} at block {ref.head_number}: {where}, same block "
                f"{ref.compared_block}"
            )
        return "; ".join(parts)


# -- deciding ---------------------------------------------------------------------------


def block_period(timestamps: Sequence[int]) -> float | None:
    """The median interval between consecutive blocks of ``timestamps`` (oldest first), or
    None when it cannot be measured (fewer than two blocks, or blocks sealed in the same
    second, as an automine chain makes them)."""
    gaps = [b - a for a, b in itertools.pairwise(timestamps)]
    if not gaps:
        return None
    period = float(statistics.median(gaps))
    return period if period > 0 else None


def default_max_head_age(period: float | None) -> tuple[float, str]:
    """The limit when none is given, and where it comes from (see the module docstring)."""
    if period is not None and HEAD_AGE_PERIODS * period > MIN_HEAD_AGE:
        return HEAD_AGE_PERIODS * period, "measured"
    return MIN_HEAD_AGE, "floor"


def judge(
    head: Head,
    *,
    chain_id: int,
    now: float,
    max_head_age: float,
    max_head_age_source: str = "given",
    wall_clock_applies: bool = True,
    mining: str = "",
    block_period_seconds: float | None = None,
    references: Sequence[ReferenceComparison] = (),
    max_lag_blocks: int = DEFAULT_MAX_LAG_BLOCKS,
    allow_stale: bool = False,
) -> Freshness:
    """The verdict on ``head`` from plain numbers; every problem is named with its numbers."""
    checked_at = int(now)
    age = checked_at - head.timestamp
    problems: list[str] = []
    if wall_clock_applies and age > max_head_age:
        problems.append(
            f"head {head.number} was sealed {_ago(age)}, over the {_seconds(max_head_age)} "
            f"limit: this node is behind or the network has halted"
        )
    for ref in references:
        if ref.error is not None:
            problems.append(f"cannot compare with reference {ref.url}: {ref.error}")
        elif ref.chain_id != chain_id:
            problems.append(
                f"reference {ref.url} is on chain {ref.chain_id}, this node on {chain_id}"
            )
        elif ref.hashes_match is False:
            problems.append(
                f"block {ref.compared_block} is {_short(ref.our_hash)} here and "
                f"{_short(ref.their_hash)} at reference {ref.url}: this node is on another fork"
            )
        elif ref.lag_blocks is not None and ref.lag_blocks > max_lag_blocks:
            problems.append(
                f"{ref.lag_blocks} blocks behind reference {ref.url} (its head {ref.head_number}, "
                f"ours {head.number}), over the limit of {max_lag_blocks}"
            )
    stale = bool(problems)
    return Freshness(
        chain_id=chain_id,
        head_number=head.number,
        head_hash=head.hash,
        head_timestamp=head.timestamp,
        checked_at=checked_at,
        age_seconds=age,
        wall_clock_applies=wall_clock_applies,
        mining=mining,
        block_period_seconds=block_period_seconds,
        max_head_age_seconds=float(max_head_age),
        max_head_age_source=max_head_age_source,
        max_lag_blocks=max_lag_blocks,
        references=list(references),
        problems=problems,
        stale=stale,
        stale_allowed=stale and allow_stale,
    )


# -- reading the nodes ------------------------------------------------------------------


def read_head(w3: Web3, block: BlockIdentifier = "latest") -> Head:
    data = w3.eth.get_block(block)
    return Head(
        number=int(data["number"]),
        hash=_hex(data["hash"]),
        timestamp=int(data["timestamp"]),
    )


def recent_timestamps(w3: Web3, head: int, count: int = PERIOD_SAMPLE_BLOCKS) -> list[int]:
    """The timestamps of blocks ``head - count`` .. ``head`` (fewer near genesis), oldest
    first, in one JSON-RPC batch (one by one if the node refuses batches)."""
    numbers = list(range(max(0, head - count), head + 1))
    requests = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
    provider: Any = w3.provider
    try:
        responses = provider.make_batch_request(requests)
        ordered = sorted(responses, key=lambda r: int(r.get("id", 0)))
        return [int(r["result"]["timestamp"], 16) for r in ordered]
    except Exception:  # no batch support (or an odd answer): ask block by block
        return [int(w3.eth.get_block(n)["timestamp"]) for n in numbers]


def mines_on_demand(w3: Web3, chain_id: int) -> tuple[bool, str]:
    """Whether the node makes blocks only for transactions, and how we know.

    anvil and hardhat say so themselves (``anvil_getAutomine`` / ``hardhat_getAutomine``:
    false with ``--block-time`` or ``--no-mining``, where the wall clock does apply). A node
    that cannot say is a development chain if it has the dev chain id 31337; any other
    (geth, Besu, ethereumjs on Clique or IBFT) seals on its period.
    """
    try:
        version = str(w3.client_version)
    except Exception:
        version = "an unnamed client"
    name = version.split("/", 1)[0].lower()
    method = {"anvil": "anvil_getAutomine", "hardhatnetwork": "hardhat_getAutomine"}.get(name)
    if method is not None:
        try:
            answer = w3.provider.make_request(RPCEndpoint(method), [])
        except Exception:
            answer = {}
        result = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(result, bool):
            if result:
                return True, (
                    f"{version} automines (a block per transaction), so on an idle chain an "
                    "old head is expected"
                )
            return False, (
                f"{version} does not automine: its blocks come on a period (or not at all), "
                "not with transactions"
            )
    if chain_id == DEV_CHAIN_ID:
        return True, (
            f"chain {DEV_CHAIN_ID} is a development chain that mines per transaction, so on an "
            "idle chain an old head is expected"
        )
    return False, f"{version} on chain {chain_id} seals blocks on its period"


def compare_with_reference(
    w3: Web3, head: Head, reference: Web3, their_head: Head, url: str
) -> ReferenceComparison:
    """This node's ``head`` against the reference's, read before it (see :func:`assess`)."""
    shown = display_url(url)
    try:
        their_chain = int(reference.eth.chain_id)
        lower = min(head.number, their_head.number)
        ours = head.hash if lower == head.number else read_head(w3, lower).hash
        theirs = their_head.hash if lower == their_head.number else read_head(reference, lower).hash
    except Exception as exc:
        return ReferenceComparison(url=shown, error=_reason(exc, url))
    return ReferenceComparison(
        url=shown,
        chain_id=their_chain,
        head_number=their_head.number,
        lag_blocks=their_head.number - head.number,
        compared_block=lower,
        our_hash=ours,
        their_hash=theirs,
        hashes_match=ours == theirs,
    )


def assess(
    w3: Web3,
    *,
    reference_rpc_urls: Sequence[str] = (),
    max_head_age: float | None = None,
    max_lag_blocks: int = DEFAULT_MAX_LAG_BLOCKS,
    allow_stale: bool = False,
    now: Callable[[], float] = time.time,
    connect_reference: Callable[[str], Web3] = connect,
) -> Freshness:
    """Read this node's head (after the references' heads), measure, and :func:`judge`.

    The references are read first: a healthy node then has at least what the reference had
    a moment before, so the time between the two reads cannot make it look behind.
    ``connect_reference`` opens a reference's URL.
    Raises what ``w3`` raises if this node cannot be read; a reference that cannot be read
    is a problem in the verdict instead.
    """
    seen: list[tuple[str, Web3, Head] | tuple[str, str]] = []
    for url in reference_rpc_urls:
        try:
            reference = connect_reference(url)
            seen.append((url, reference, read_head(reference)))
        except Exception as exc:
            seen.append((url, _reason(exc, url)))
    chain_id = int(w3.eth.chain_id)
    head = read_head(w3)
    checked_at = now()
    on_demand, mining = mines_on_demand(w3, chain_id)
    period = None if on_demand else block_period(recent_timestamps(w3, head.number))
    if max_head_age is None:
        limit, source = default_max_head_age(period)
    else:
        limit, source = float(max_head_age), "given"
    references = [
        compare_with_reference(w3, head, entry[1], entry[2], entry[0])
        if len(entry) == 3
        else ReferenceComparison(url=display_url(entry[0]), error=entry[1])
        for entry in seen
    ]
    return judge(
        head,
        chain_id=chain_id,
        now=checked_at,
        max_head_age=limit,
        max_head_age_source=source,
        wall_clock_applies=not on_demand,
        mining=mining,
        block_period_seconds=period,
        references=references,
        max_lag_blocks=max_lag_blocks,
        allow_stale=allow_stale,
    )


# -- helpers ----------------------------------------------------------------------------


def display_url(url: str) -> str:
    """``scheme://host:port`` of an RPC URL: reports are archived and shared, and a URL's
    user part, path or query often carries an API key."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "(unparsable URL)"


def _limit_source(f: Freshness) -> str:
    if f.max_head_age_source == "measured" and f.block_period_seconds is not None:
        return f"{HEAD_AGE_PERIODS} block periods of {_seconds(f.block_period_seconds)}"
    if f.max_head_age_source == "floor":
        period = (
            f"block period {_seconds(f.block_period_seconds)}"
            if f.block_period_seconds is not None
            else "block period not measurable"
        )
        return f"the floor; {period}"
    return "given"


def _ago(age: int) -> str:
    return f"{age} s ago" if age >= 0 else f"with a time {-age} s ahead of this machine's clock"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _short(block_hash: str | None) -> str:
    return f"{block_hash[:12]}..." if block_hash else "unknown"


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


def _reason(exc: BaseException, url: str) -> str:
    """The error without the parts of the reference's URL that :func:`display_url` leaves
    out: connection errors repeat the URL, or its path and query."""
    text = f"{type(exc).__name__}: {exc}".replace(url, display_url(url))
    parts = urlsplit(url)
    secrets = [parts.path, parts.query, parts.fragment, parts.username, parts.password]
    for secret in sorted((s for s in secrets if s and len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "...")
    return text


__all__ = [
    "DEFAULT_MAX_LAG_BLOCKS",
    "DEV_CHAIN_ID",
    "HEAD_AGE_PERIODS",
    "MIN_HEAD_AGE",
    "PERIOD_SAMPLE_BLOCKS",
    "Freshness",
    "Head",
    "ReferenceComparison",
    "assess",
    "block_period",
    "default_max_head_age",
    "judge",
    "mines_on_demand",
]
