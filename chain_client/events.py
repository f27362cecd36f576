"""Follow a contract's events from a checkpoint, page by page, safely across reorgs.

Why this shape: the API keeps a read model (an index of ledger events) that must survive
restarts and must never keep events from blocks the chain abandoned. So:

* we only read up to ``head - confirmations`` (finality on a consortium chain is a few
  blocks; anvil reorgs only when a test asks it to);
* progress is a :class:`Checkpoint` (block number *and* hash) persisted in a pluggable
  :class:`CheckpointStore`, together with a short history of earlier checkpoints;
* before each read we check the last checkpoint's hash against the chain. If it changed,
  we walk back through the history to the newest checkpoint still on the chain, report a
  :class:`Reorg` (callback and return value) so the consumer deletes everything above
  ``reorg.rollback_to``, and read again from there.

The ledger's events that the API, the read model and the verifier read field by field have
typed records here (:class:`FinancingOffered`, :class:`FinancingAccepted`, the key
rotation's :class:`HoldingMoved`, :class:`CertificatePartyMoved`, :class:`OfferPartyMoved`
and :class:`CreditLineMoved`, subclasses of :class:`LedgerEventRecord`): one ``from_args``
maps the Solidity argument names to fields, whether the arguments come from a receipt,
from ``eth_getLogs`` or from the read model's stored JSON.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.events import get_event_data

from chain_client.encoding import to_hex
from chain_client.errors import EventReaderError
from chain_client.files import atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """Everything up to and including ``block_number`` has been delivered."""

    block_number: int
    block_hash: str


@dataclass(frozen=True)
class EventRecord:
    """One decoded log."""

    event: str
    args: dict[str, Any]
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def key(self) -> tuple[str, int]:
        """Unique and stable id of the log on its chain: (tx hash, log index)."""
        return (self.tx_hash, self.log_index)


@dataclass(frozen=True)
class Reorg:
    """The chain changed under us: undo everything above ``rollback_to``.

    ``rollback_to`` is None when no stored checkpoint survived: undo everything.
    """

    orphaned: Checkpoint
    rollback_to: Checkpoint | None

    @property
    def undo_above(self) -> int:
        """Delete records with ``block_number > undo_above``."""
        return self.rollback_to.block_number if self.rollback_to else -1


@dataclass
class ReadResult:
    events: list[EventRecord] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    reorg: Reorg | None = None
    caught_up: bool = False  # True when nothing more is readable right now


# -- typed records of the ledger's events -------------------------------------------------


@dataclass(frozen=True)
class LedgerEventRecord:
    """One ledger event, typed: a subclass names the event and declares its arguments as
    snake_case fields in the Solidity order; ``from_args`` maps them by name, the one
    place an event's arguments are decoded (``offerId`` -> ``offer_id``; a name that is
    not the camelCase of its field is listed in ``ARGUMENT_NAMES``)."""

    EVENT: ClassVar[str]
    #: field -> the Solidity argument's name, where it is not the field's camelCase
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {}

    block_number: int = field(kw_only=True)
    log_index: int = field(kw_only=True)

    @classmethod
    def from_args(cls, args: Mapping[str, Any], *, block_number: int, log_index: int) -> Self:
        """From the event's arguments as web3 decodes them or as JSON stored them (numbers
        may be decimal strings), and where the log sits."""
        values = {name: convert(args[argument]) for name, argument, convert in _arguments(cls)}
        return cls(**values, block_number=int(block_number), log_index=int(log_index))


def _arguments(record: type[LedgerEventRecord]) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """(field, argument name, conversion) of a record's event arguments, worked out once
    per record class (the read model decodes every event it projects)."""
    known = _ARGUMENTS.get(record)
    if known is None:
        own = [f for f in fields(record) if f.name not in ("block_number", "log_index")]
        known = _ARGUMENTS[record] = [
            (
                f.name,
                record.ARGUMENT_NAMES.get(f.name, _camel_case(f.name)),
                str if f.type in ("str", str) else int,
            )
            for f in own
        ]
    return known


_ARGUMENTS: dict[type[LedgerEventRecord], list[tuple[str, str, Callable[[Any], Any]]]] = {}


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class FinancingOffered(LedgerEventRecord):
    """A holder offered ``amount`` fen of a fragment to a bank (Financing.sol)."""

    EVENT: ClassVar[str] = "FinancingOffered"

    offer_id: int
    fragment_id: int
    financier: str
    seller: str
    amount: int
    rate_bps: int
    expires_at: int


@dataclass(frozen=True)
class FinancingAccepted(LedgerEventRecord):
    """A bank bought an offer (delivery versus payment): the financed fragment it now holds
    and the price by the discount rule (Financing.sol)."""

    EVENT: ClassVar[str] = "FinancingAccepted"
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {"days": "days_"}

    offer_id: int
    fragment_id: int  # the fragment the offer was made from
    financier: str
    seller: str
    financed_fragment_id: int
    amount: int
    discount: int
    days: int
    payment: int


@dataclass(frozen=True)
class SoldToBid(LedgerEventRecord):
    """A holder sold (part of) a fragment to a standing bid in one transaction: the
    fragment the funder now holds, the price by the discount rule, and who was paid
    (BidBook.sol)."""

    EVENT: ClassVar[str] = "SoldToBid"
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {"days": "days_"}

    bid_id: int
    fragment_id: int  # the fragment sold from
    funder: str
    seller: str
    payee: str
    financed_fragment_id: int
    amount: int
    discount: int
    days: int
    payment: int


@dataclass(frozen=True)
class HoldingMoved(LedgerEventRecord):
    """After a key rotation, a fragment held by the retired ``from_account`` moved to its
    organization's current key ``to_account`` (not a transfer: the holder is the same
    organization)."""

    EVENT: ClassVar[str] = "HoldingMoved"
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {"from_account": "from", "to_account": "to"}

    fragment_id: int
    from_account: str
    to_account: str


@dataclass(frozen=True)
class CertificatePartyMoved(LedgerEventRecord):
    """After a key rotation, the retired ``from_account`` was replaced by ``to_account``
    wherever it was the certificate's issuer, beneficiary or credit provider."""

    EVENT: ClassVar[str] = "CertificatePartyMoved"
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {"from_account": "from", "to_account": "to"}

    certificate_id: int
    from_account: str
    to_account: str

    def applied(self, parties: Mapping[str, str]) -> dict[str, str]:
        """``parties`` (role -> address) with ``from_account`` replaced, as the ledger's
        moveCertificates does."""
        return {
            role: self.to_account if address == self.from_account else address
            for role, address in parties.items()
        }


@dataclass(frozen=True)
class OfferPartyMoved(LedgerEventRecord):
    """After a key rotation, the retired ``from_account`` was replaced by ``to_account`` as
    an open offer's seller or financier."""

    EVENT: ClassVar[str] = "OfferPartyMoved"
    ARGUMENT_NAMES: ClassVar[Mapping[str, str]] = {"from_account": "from", "to_account": "to"}

    offer_id: int
    from_account: str
    to_account: str


@dataclass(frozen=True)
class CreditLineMoved(LedgerEventRecord):
    """After a key rotation, the line of (financier, core enterprise) moved to (new
    financier, new core enterprise); ``limit`` is the new line's."""

    EVENT: ClassVar[str] = "CreditLineMoved"

    financier: str
    core_enterprise: str
    new_financier: str
    new_core_enterprise: str
    limit: int


#: a ledger event with a typed record (Ledger.receipt_records, Ledger.event_records)
LedgerEventT = TypeVar("LedgerEventT", bound=LedgerEventRecord)


class CheckpointStore(Protocol):
    """Where progress lives. Newest checkpoint last; the list is the reorg history."""

    def load(self) -> list[Checkpoint]: ...

    def save(self, checkpoints: Sequence[Checkpoint]) -> None: ...


class MemoryCheckpointStore:
    def __init__(self, checkpoints: Sequence[Checkpoint] = ()) -> None:
        self._checkpoints = list(checkpoints)
        self._lock = threading.Lock()

    def load(self) -> list[Checkpoint]:
        with self._lock:
            return list(self._checkpoints)

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        with self._lock:
            self._checkpoints = list(checkpoints)


class JsonFileCheckpointStore:
    """A small JSON file, replaced atomically on each save (a crash leaves the old one)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> list[Checkpoint]:
        if not self.path.is_file():
            return []
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
            return [Checkpoint(int(c["block_number"]), str(c["block_hash"])) for c in payload]
        except (ValueError, KeyError, TypeError) as exc:
            raise EventReaderError(f"checkpoint file {self.path} is corrupt: {exc}") from exc

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        atomic_write_text(self.path, json.dumps([asdict(c) for c in checkpoints]))


class EventReader:
    """Reads and decodes the events of ``abi`` emitted by ``addresses``.

    ``start_block``: the first block to read when the store is empty (a contract's
    deployment block). ``page_size``: blocks per eth_getLogs. ``history``: checkpoints
    kept for reorg recovery (each page end is one). ``on_reorg``: called before the
    re-read, so a read model can undo.
    """

    def __init__(
        self,
        w3: Web3,
        addresses: str | Sequence[str],
        abi: Sequence[Mapping[str, Any]],
        store: CheckpointStore | None = None,
        *,
        start_block: int = 0,
        confirmations: int = 0,
        page_size: int = 1_000,
        history: int = 128,
        on_reorg: Callable[[Reorg], None] | None = None,
    ) -> None:
        if page_size < 1 or confirmations < 0 or history < 1:
            raise ValueError("page_size >= 1, confirmations >= 0, history >= 1")
        self.w3 = w3
        self.addresses = [
            to_checksum_address(a)
            for a in ([addresses] if isinstance(addresses, str) else addresses)
        ]
        self.store: CheckpointStore = store or MemoryCheckpointStore()
        self.start_block = start_block
        self.confirmations = confirmations
        self.page_size = page_size
        self.history = history
        self.on_reorg = on_reorg
        #: the safe head the last :meth:`poll` saw (-1: none yet)
        self.last_safe_head = -1
        self._events: dict[bytes, dict[str, Any]] = {
            bytes(event_abi_to_log_topic(e)): dict(e)  # type: ignore[arg-type]
            for e in abi
            if e.get("type") == "event" and not e.get("anonymous")
        }
        self._layouts = {topic: _EventLayout(e) for topic, e in self._events.items()}

    @property
    def checkpoint(self) -> Checkpoint | None:
        checkpoints = self.store.load()
        return checkpoints[-1] if checkpoints else None

    def safe_head(self) -> int:
        """The newest block we may read: ``head - confirmations``."""
        return int(self.w3.eth.block_number) - self.confirmations

    def poll(self) -> ReadResult:
        """Check for a reorg, then read at most one page. Cheap to call in a loop: three
        requests when the page is one new block (head, that block, its logs), the usual
        case for a follower; one more to check the checkpoint otherwise."""
        checkpoints = self.store.load()
        head = self.safe_head()
        self.last_safe_head = head
        first, last = self._page(checkpoints, head)
        end_block = self.w3.eth.get_block(last) if last >= first else None
        reorg = None
        # A new block whose parent is our checkpoint proves the checkpoint is still on the
        # chain; otherwise ask for the checkpoint's block.
        if not (
            end_block is not None
            and checkpoints
            and last == first
            and to_hex(end_block["parentHash"]) == checkpoints[-1].block_hash
        ):
            reorg = self._check_reorg(checkpoints)
        if reorg is not None:
            checkpoints = self.store.load()
            first, last = self._page(checkpoints, head)
            end_block = self.w3.eth.get_block(last) if last >= first else None
        if end_block is None:
            return ReadResult([], checkpoints[-1] if checkpoints else None, reorg, True)
        # The hash is taken *before* the logs: if a reorg lands in between, the stored hash
        # is the old one and the next poll detects it (never the reverse).
        end = Checkpoint(last, to_hex(end_block["hash"]))
        query: dict[str, Any] = {"address": self.addresses, "fromBlock": first, "toBlock": last}
        if self._events:
            query["topics"] = [[to_hex(t) for t in self._events]]
        logs = self.w3.eth.get_logs(query)  # type: ignore[arg-type]
        records = []
        for entry in logs:
            if entry.get("removed"):
                continue
            if int(entry["blockNumber"]) == last and to_hex(entry["blockHash"]) != end.block_hash:
                # the last block changed while we read: do not commit this page
                return ReadResult([], checkpoints[-1] if checkpoints else None, reorg, False)
            record = self._decode(entry)
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: (r.block_number, r.log_index))
        self.store.save([*checkpoints, end][-self.history :])
        return ReadResult(records, end, reorg, last >= head)

    def _page(self, checkpoints: list[Checkpoint], head: int) -> tuple[int, int]:
        """The blocks of the next page (empty if ``last < first``)."""
        first = checkpoints[-1].block_number + 1 if checkpoints else self.start_block
        return first, min(head, first + self.page_size - 1)

    def read_available(self, max_pages: int | None = None) -> Iterator[ReadResult]:
        """Poll until caught up (or ``max_pages``); yields every non-empty result."""
        pages = 0
        while max_pages is None or pages < max_pages:
            result = self.poll()
            pages += 1
            if result.events or result.reorg:
                yield result
            if result.caught_up:
                return

    # -- internals -----------------------------------------------------------------------

    def _check_reorg(self, checkpoints: list[Checkpoint]) -> Reorg | None:
        if not checkpoints or self._on_chain(checkpoints[-1]):
            return None
        orphaned = checkpoints[-1]
        survivors = list(checkpoints)
        while survivors and not self._on_chain(survivors[-1]):
            survivors.pop()
        reorg = Reorg(orphaned=orphaned, rollback_to=survivors[-1] if survivors else None)
        log.warning(
            "chain reorganized: checkpoint %d %s is gone, rolling back to %s",
            orphaned.block_number,
            orphaned.block_hash,
            reorg.rollback_to,
        )
        if self.on_reorg is not None:
            self.on_reorg(reorg)  # before saving: if the consumer fails we retry next time
        self.store.save(survivors)
        return reorg

    def _on_chain(self, checkpoint: Checkpoint) -> bool:
        try:
            block = self.w3.eth.get_block(checkpoint.block_number)
        except Exception:  # BlockNotFound: the chain is now shorter than our checkpoint
            return False
        return to_hex(block["hash"]) == checkpoint.block_hash

    def _decode(self, entry: Mapping[str, Any]) -> EventRecord | None:
        topics = entry.get("topics") or []
        topic = bytes(HexBytes(topics[0])) if topics else b""
        event_abi = self._events.get(topic)
        if event_abi is None:
            return None
        layout = self._layouts[topic]
        try:
            args = layout.decode(self.w3.codec, topics, entry.get("data") or b"")
            if args is None:  # not a layout the lean decoder knows: web3's does it
                args = _plain(dict(get_event_data(self.w3.codec, event_abi, entry)["args"]))
        except Exception as exc:  # a log with the topic but another layout (indexed-ness)
            log.warning("cannot decode log %s: %s", entry.get("transactionHash"), exc)
            return None
        return EventRecord(
            event=layout.name,
            args=args,
            address=_checksummed(entry["address"]),
            block_number=int(entry["blockNumber"]),
            block_hash=to_hex(entry["blockHash"]),
            tx_hash=to_hex(entry["transactionHash"]),
            log_index=int(entry["logIndex"]),
        )


_STATIC = re.compile(
    r"^(u?int(8|16|24|32|40|48|56|64|72|80|88|96|104|112|120|128|136|144|152|160"
    r"|168|176|184|192|200|208|216|224|232|240|248|256)|address|bool"
    r"|bytes([1-9]|[12][0-9]|3[0-2]))$"
)


class _EventLayout:
    """How one event's arguments sit in a log: indexed ones in the topics, the rest in
    the data.

    Why not web3's ``get_event_data`` for every log: it re-derives this layout and runs
    its normalizers for each log, a millisecond or so; a busy indexer decodes every log
    of the chain. Events whose arguments are all static types (every event of this
    project's contracts) are decoded here with the ABI codec alone, into the same
    values web3 gives (checksummed addresses, ints, bools, bytes; indexed arguments
    first, as web3 orders them); any other event goes to web3."""

    def __init__(self, abi: Mapping[str, Any]) -> None:
        self.name = str(abi["name"])
        inputs = abi.get("inputs") or []
        self.indexed = [(str(i["name"]), str(i["type"])) for i in inputs if i.get("indexed")]
        self.data = [(str(i["name"]), str(i["type"])) for i in inputs if not i.get("indexed")]
        self.simple = all(_STATIC.match(t) for _, t in self.indexed + self.data)
        self._data_types = [t for _, t in self.data]

    def decode(self, codec: Any, topics: Sequence[Any], data: Any) -> dict[str, Any] | None:
        """The arguments, or None when this layout is not one decoded here."""
        if not self.simple:
            return None
        if len(topics) != len(self.indexed) + 1:
            raise ValueError(
                f"{self.name}: {len(topics) - 1} indexed topics, expected {len(self.indexed)}"
            )
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = _normalized(kind, codec.decode([kind], bytes(HexBytes(topic)))[0])
        values = codec.decode(self._data_types, bytes(HexBytes(data)))
        for (name, kind), value in zip(self.data, values, strict=True):
            args[name] = _normalized(kind, value)
        return args


def _normalized(kind: str, value: Any) -> Any:
    return _checksummed(value) if kind == "address" else value


@functools.lru_cache(maxsize=4096)
def _checksummed(address: str) -> str:
    """Members' addresses recur in every event: hash each once."""
    return str(to_checksum_address(address))


def _plain(value: Any) -> Any:
    """AttributeDicts and tuples of structs into plain dicts/lists (JSON-friendly-ish)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
