"""The indexer: ledger events into the read model (events, certificates, fragments, offers).

Why the checkpoint lives in the same database transaction as the rows it covers: a crash
between "saved progress" and "saved rows" would skip events forever (or the reverse would
apply them twice). :class:`DbCheckpointStore` writes into the session of the current step
and the step commits both together.

Why rows are re-read from the chain rather than folded from event deltas: an event says
*which* certificate or fragment changed; its state at the page's last block is read in one
batched call. Applying a page twice is then harmless, and the read model is checked
against the chain on every update. Offers are built from their events alone (their events
carry every field).

Read-your-writes: a command answers only once the read model covers the block that mined
its transaction (:meth:`Indexer.wait_indexed`). The indexer is the read model's only
writer, in one process of a server: that process follows the chain, stepping at once when
a command waits (several waiting commands ride on one step, which reads their blocks in
one page and their state in batched calls) and every ``interval`` otherwise. The other
worker processes of the server watch its checkpoint in the database
(:meth:`Indexer.watch`). Why not let each command apply its own receipt: it cost two chain
reads and a write transaction per command that the indexer then did again, and with
several worker processes the check "is the indexer past this block" under one lock is no
longer possible without a database lock shared by every writer.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import Engine, and_, delete, func, insert, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from api import wakeup
from api.models import (
    CertificateRow,
    ChainEvent,
    FragmentRow,
    IndexerCheckpoint,
    OfferRow,
)
from chain_client.batch import encode_uint_call, word_address, words
from chain_client.errors import ContractRevert
from chain_client.events import Checkpoint, EventReader, EventRecord, Reorg
from chain_client.ledger import Ledger, fragment_from_words
from chain_client.ledger_types import (
    Certificate,
    CertificateStatus,
    Fragment,
    certificate_id_of,
)

log = logging.getLogger(__name__)

_GET_CERTIFICATE = function_signature_to_4byte_selector("getCertificate(uint256)")
_GET_FRAGMENT = function_signature_to_4byte_selector("getFragment(uint256)")

STATUS_NAMES = {
    0: "none",
    1: "issued",
    2: "active",
    3: "rejected",
    4: "revoked",
    5: "settled",
    6: "overdue",
    7: "defaulted",
}


class DbCheckpointStore:
    """CheckpointStore over the ``indexer_checkpoints`` table, in the caller's session.

    ``save`` only remembers the checkpoints; :meth:`write` puts them into the session
    just before the step commits. Why: the first write of a transaction takes SQLite's
    database-wide write lock, and a step still reads the chain after the reader saved
    its checkpoint: holding the lock through those calls stalled every command's
    journal write behind the indexer.

    The reader keeps a sliding window of checkpoints (128 blocks, for reorg detection)
    and each step moves it by a block or a page: :meth:`write` deletes and inserts only
    what changed (rewriting all 128 rows was a sixth of a busy indexer's work). A row's
    primary key ``position`` is its block number; rows of an earlier version numbered
    0, 1, 2... are rewritten once.
    """

    def __init__(self) -> None:
        self.session: Session | None = None
        self.pending: list[Checkpoint] | None = None
        self._stored: list[Checkpoint] | None = None  # the table, in the current step
        #: the table as this store's last commit left it: the indexing process is the
        #: only writer, so the next step need not read it back (None: read it)
        self._committed: list[Checkpoint] | None = None
        self._renumber = False

    def begin(self, session: Session) -> None:
        self.session, self.pending, self._stored = session, None, self._committed

    def end(self, committed: bool) -> None:
        """After the step's transaction: what the table now holds, if we know it."""
        self._committed = (
            (self.pending if self.pending is not None else self._stored) if committed else None
        )
        self.session, self.pending, self._stored = None, None, None

    def load(self) -> list[Checkpoint]:
        assert self.session is not None
        if self.pending is not None:
            return list(self.pending)
        if self._stored is None:
            rows = self.session.execute(
                sa_select(
                    IndexerCheckpoint.position,
                    IndexerCheckpoint.block_number,  # type: ignore[call-overload]
                    IndexerCheckpoint.block_hash,
                ).order_by(IndexerCheckpoint.block_number)
            ).all()
            self._stored = [Checkpoint(int(r[1]), str(r[2])) for r in rows]
            self._renumber = any(r[0] != r[1] for r in rows)
        return list(self._stored)

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        assert self.session is not None
        self.pending = list(checkpoints)

    def write(self) -> None:
        """Stage the saved checkpoints in the session (the caller commits)."""
        assert self.session is not None
        if self.pending is None:
            return
        if self._stored is None:
            saved, self.pending = self.pending, None
            self.load()
            self.pending = saved
        stored = set(self._stored or ())
        wanted = set(self.pending)
        if self._renumber:
            self.session.exec(delete(IndexerCheckpoint))  # type: ignore[call-overload]
            stored = set()
        gone = [cp.block_number for cp in stored - wanted]
        if gone:
            self.session.exec(
                delete(IndexerCheckpoint).where(  # type: ignore[call-overload]
                    IndexerCheckpoint.block_number.in_(gone)
                )
            )  # type: ignore[attr-defined]
        added = [
            {
                "position": cp.block_number,
                "block_number": cp.block_number,
                "block_hash": cp.block_hash,
            }
            for cp in sorted(wanted - stored, key=lambda c: c.block_number)
        ]
        if added:
            self.session.execute(insert(IndexerCheckpoint), added)
        self._renumber = False


@dataclass
class _State:
    """Chain state of certificates and fragments at one block (None: does not exist
    there), read in batched calls *before* the write lock is taken."""

    indexer: Indexer
    at: int | None  # None: nothing indexed is left (a reorg below the first checkpoint)
    certs: dict[int, Certificate | None] = field(default_factory=dict)
    frags: dict[int, Fragment | None] = field(default_factory=dict)

    def ensure(self, cert_ids: Iterable[int], frag_ids: Iterable[int]) -> None:
        """Read what is not read yet: certificates and fragments in one batched request
        (one round trip to a busy node, not two)."""
        want_c = sorted(set(cert_ids) - self.certs.keys())
        want_f = sorted(set(frag_ids) - self.frags.keys())
        if self.at is None:
            self.certs.update(dict.fromkeys(want_c))
            self.frags.update(dict.fromkeys(want_f))
            return
        if not want_c and not want_f:
            return
        calldatas = [encode_uint_call(_GET_CERTIFICATE, cid) for cid in want_c]
        calldatas += [encode_uint_call(_GET_FRAGMENT, fid) for fid in want_f]
        ledger = self.indexer.ledger
        results = ledger.batch.call_many(ledger.address, calldatas, block=self.at)
        for cid, data in zip(want_c, results[: len(want_c)], strict=True):
            self.certs[cid] = (
                None
                if isinstance(data, ContractRevert)
                else _certificate_from_words(cid, words(data))
            )
        for fid, data in zip(want_f, results[len(want_c) :], strict=True):
            self.frags[fid] = (
                None if isinstance(data, ContractRevert) else fragment_from_words(fid, words(data))
            )


@dataclass
class _Stale:
    """What a page makes untrue in the read model (:meth:`Indexer._stale`)."""

    certs: set[int] = field(default_factory=set)  # rows to re-read, even if newer
    frags: set[int] = field(default_factory=set)
    undo: list[ChainEvent] = field(default_factory=list)  # events to delete
    #: (tx hash, log index) of the page's events stored already, in the same block
    stored: set[tuple[str, int]] = field(default_factory=set)


class Indexer:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        *,
        page_size: int = 2_000,
        wakeup_path: Path | None = None,
        read_engine: Engine | None = None,
    ) -> None:
        """``wakeup_path``: the socket on which the indexing process hears that a command
        of another process waits (:mod:`api.wakeup`). ``read_engine``: for the
        checkpoint reads of :meth:`watch` (see :func:`api.db.read_only`)."""
        self.engine = engine
        self.read_engine = read_engine or engine
        self.ledger = ledger
        self.wakeup_path = wakeup.usable(wakeup_path)
        self._wakeup = wakeup.WakeupSender(self.wakeup_path) if self.wakeup_path else None
        #: tells the other processes' watchers how far the read model is (:meth:`watch`)
        self._publisher = (
            wakeup.IndexedPublisher(self.wakeup_path.parent) if self.wakeup_path else None
        )
        self.store = DbCheckpointStore()
        self.reader = EventReader(
            ledger.w3,
            ledger.address,
            ledger.ledger.abi,
            self.store,
            start_block=ledger.manifest.deployment_block,
            page_size=page_size,
            on_reorg=self._on_reorg,
        )
        self._lock = threading.Lock()  # one step at a time
        self._reorg: Reorg | None = None
        #: wakes the follower/watcher when a command starts waiting
        self._progress = threading.Condition()
        self._wanted = -1  # the highest block a waiting command needs
        #: waiting commands as (block, ticket, event): each is woken only when the read
        #: model reaches its own block (waking all of them on every step cost CPU)
        self._waiters: list[tuple[int, int, threading.Event]] = []
        self._following = False  # this process runs the follower
        self._tickets = itertools.count()
        #: set while :meth:`follow` or :meth:`watch` runs in this process; without either
        #: (tests, scripts) :meth:`wait_indexed` steps in the caller's thread
        self._background = 0
        with Session(engine) as session:
            newest = session.exec(select(func.max(IndexerCheckpoint.block_number))).one()
        self.indexed_block = -1 if newest is None else int(newest)

    def step(self, *, unless_indexed: int | None = None) -> int:
        """Index at most one page; returns how many events were stored.

        ``unless_indexed``: do nothing if that block is indexed by the time the lock is
        ours (another thread's step, which we waited for, may have covered it)."""
        with self._lock, Session(self.engine, expire_on_commit=False) as session:
            if unless_indexed is not None and self.indexed_block >= unless_indexed:
                return 0
            self.store.begin(session)
            self._reorg = None
            committed = False
            try:
                before = self.store.load()
                result = self.reader.poll()  # may call _on_reorg, which only records it
                reorg = self._reorg
                if reorg is not None:
                    prev = reorg.undo_above
                elif before:
                    prev = before[-1].block_number
                else:
                    prev = self.reader.start_block - 1
                at = result.checkpoint.block_number if result.checkpoint is not None else None
                if reorg is None and (at is None or at <= prev):
                    self.store.pending = None  # nothing written: the table is as loaded
                    committed = True
                    return 0  # nothing new
                # Read the chain first (outside the write lock): the state of what the
                # page touches, and of what a reorg or a stale provisional event touched.
                state = _State(self, at)
                certs, frags = _touched(result.events)
                stale = self._stale(session, reorg, prev, at, result.events)
                state.ensure(certs | stale.certs, frags | stale.frags)
                stored = self._write_page(session, result.events, state, stale, (certs, frags))
                self.store.write()
                session.commit()
                committed = True
                self._moved_to(at if at is not None else -1)
                if self._publisher is not None and at is not None:
                    self._publisher.publish(at)
            except BaseException:
                session.rollback()
                raise
            finally:
                self.store.end(committed)
                self._reorg = None
            return stored

    def catch_up(self, max_pages: int = 1_000) -> int:
        """Index until the chain head (as far as confirmations allow)."""
        total = 0
        for _ in range(max_pages):
            before = self.indexed_block
            total += self.step()
            if self.indexed_block == before:
                break  # nothing new is readable
            # caught up with the head the step saw, unless a command waits for more (a
            # block mined since: the next step reads the new head)
            if self.indexed_block >= max(self.reader.last_safe_head, self._wanted):
                break
        return total

    def sync_to(self, block: int) -> None:
        """Make sure everything up to ``block`` is indexed (stepping in this thread)."""
        for _ in range(100):
            if self.indexed_block >= block:
                return
            self.step(unless_indexed=block)

    # -- read-your-writes -------------------------------------------------------------------

    def wait_indexed(self, block: int, timeout: float) -> bool:
        """Wait until the read model covers ``block``; False if ``timeout`` passed first
        (the command's answer does not depend on it: the rows follow a moment later)."""
        if self.indexed_block >= block:
            return True
        if not self._background:
            self.sync_to(block)
            return self.indexed_block >= block
        reached = threading.Event()
        with self._progress:
            if self.indexed_block >= block:
                return True
            heapq.heappush(self._waiters, (block, next(self._tickets), reached))
            self._want(block)
        if self._wakeup is not None and not self._following:
            self._wakeup.want(block)  # the indexer runs in another process
        return reached.wait(timeout) or self.indexed_block >= block

    def _want(self, block: int) -> None:
        with self._progress:
            if block > self._wanted:
                self._wanted = block
                self._progress.notify_all()

    def follow(self, stop: threading.Event, interval: float, retry: float = 0.02) -> None:
        """The indexing process's loop: step as soon as a command waits for a block not
        indexed yet (here, or in another process: :mod:`api.wakeup`), else every
        ``interval`` seconds, until ``stop`` is set."""
        listener = None
        if self.wakeup_path is not None:
            listener = threading.Thread(
                target=wakeup.listen,
                name="indexer-wakeup",
                args=(self.wakeup_path, self._want, stop),
                daemon=True,
            )
            listener.start()
        self._following = True
        try:
            self._run_background(stop, interval, retry, self.catch_up)
        finally:
            self._following = False
            if listener is not None:
                listener.join(2.0)

    def watch(self, stop: threading.Event, poll: float = 0.01, poll_when_told: float = 0.2) -> None:
        """The other processes' loop: hear from the indexing process how far the read
        model is (:class:`api.wakeup.IndexedPublisher`) and, while a command waits, read
        its checkpoint from the database every ``poll_when_told`` seconds (a lost
        datagram, a reorg), or every ``poll`` seconds if this process cannot listen."""
        query = sa_select(func.max(IndexerCheckpoint.block_number))

        def read_checkpoint() -> None:
            with self.read_engine.connect() as conn:
                newest = conn.execute(query).scalar()
            self._moved_to(-1 if newest is None else int(newest))

        listener = None
        path = wakeup.usable(
            wakeup.IndexedPublisher.path_for(self.wakeup_path.parent, os.getpid())
            if self.wakeup_path
            else None
        )
        if path is not None:
            listener = threading.Thread(
                target=wakeup.listen,
                name="indexed-listener",
                args=(path, self._advanced_to, stop),
                daemon=True,
            )
            listener.start()
            poll = poll_when_told
        try:
            self._run_background(stop, 1.0, poll, read_checkpoint)
        finally:
            if listener is not None:
                listener.join(2.0)

    def _run_background(
        self, stop: threading.Event, interval: float, retry: float, advance: Any
    ) -> None:
        with self._progress:
            self._background += 1
        try:
            while not stop.is_set():
                with self._progress:
                    self._progress.wait_for(
                        lambda: self._wanted > self.indexed_block or stop.is_set(), interval
                    )
                if stop.is_set():
                    return
                try:
                    advance()
                except Exception:  # keep following; the next pass retries
                    log.exception("indexer: could not advance")
                    stop.wait(min(interval, 1.0))
                    continue
                if self._wanted > self.indexed_block:
                    stop.wait(retry)  # the block is not readable yet (confirmations)
        finally:
            with self._progress:
                self._background -= 1
                self._progress.notify_all()

    def _advanced_to(self, block: int) -> None:
        """Told by the indexing process (datagrams may arrive late: never move back)."""
        with self._progress:
            if block > self.indexed_block:
                self._moved_to(block)

    def _moved_to(self, block: int) -> None:
        with self._progress:
            self.indexed_block = block
            while self._waiters and self._waiters[0][0] <= block:
                heapq.heappop(self._waiters)[2].set()

    # -- writing ----------------------------------------------------------------------------

    def _stale(
        self,
        session: Session,
        reorg: Reorg | None,
        prev: int,
        at: int | None,
        events: list[EventRecord],
    ) -> _Stale:
        """What is no longer true, and which of the page's events are stored already.

        After a reorg: every event above the surviving checkpoint and every row read in
        the abandoned blocks. Otherwise: stored events of this page's blocks that the page
        does not have, and stored events of the page's logs recorded in another block.
        Only the indexer writes events now, so the latter two are empty, except in a
        database written by an earlier version, whose commands stored their own receipts
        above the checkpoint: those are checked like any page. One query finds both
        kinds (and the page's events already stored): a busy indexer steps many times a
        second, each step a round trip per query on PostgreSQL."""
        stale = _Stale()
        page = {(e.tx_hash, e.log_index, e.block_hash) for e in events}
        hashes = {e.tx_hash for e in events}
        if reorg is not None:
            above = reorg.undo_above
            found = list(
                session.exec(select(ChainEvent).where(ChainEvent.block_number > above)).all()
            )
            if hashes:
                found += session.exec(
                    select(ChainEvent).where(ChainEvent.tx_hash.in_(hashes))
                ).all()  # type: ignore[attr-defined]
            stale.certs |= set(
                session.exec(
                    select(CertificateRow.id).where(CertificateRow.block_number > above)
                ).all()
            )
            stale.frags |= set(
                session.exec(select(FragmentRow.id).where(FragmentRow.block_number > above)).all()
            )
        else:
            in_range = and_(
                ChainEvent.block_number > prev,  # type: ignore[operator]
                ChainEvent.block_number <= at,
            )  # type: ignore[operator]
            where = or_(in_range, ChainEvent.tx_hash.in_(hashes)) if hashes else in_range  # type: ignore[attr-defined]
            found = list(session.exec(select(ChainEvent).where(where)).all())
        seen: set[int | None] = set()
        for e in found:
            if e.id in seen:
                continue
            seen.add(e.id)
            if (e.tx_hash, e.log_index, e.block_hash) in page:
                stale.stored.add((e.tx_hash, e.log_index))
            else:
                stale.undo.append(e)
        for e in stale.undo:
            if e.certificate_id:
                stale.certs.add(e.certificate_id)
            if e.fragment_id:
                stale.frags.add(e.fragment_id)
            for key in ("parentFragmentId", "fragmentId", "rootFragmentId", "financedFragmentId"):
                value = json.loads(e.args).get(key)
                if value is not None and int(value):
                    stale.frags.add(int(value))
        return stale

    def _write_page(
        self,
        session: Session,
        events: list[EventRecord],
        state: _State,
        stale: _Stale,
        touched: tuple[set[int], set[int]],
    ) -> int:
        """Undo what is stale, store the page's new events, fold the offers they touch,
        and refresh the rows they touch (``touched``, :func:`_touched`) from ``state``,
        which holds them and the stale ones already: every row the page touches (a row
        may have been regressed during a reorg), rows read in abandoned blocks forced."""
        offers = {e.offer_id for e in stale.undo if e.offer_id}
        for e in stale.undo:
            session.delete(e)
        if stale.undo:
            session.flush()
            log.warning("read model: undid %d events of abandoned blocks", len(stale.undo))
        fresh: list[dict[str, Any]] = []
        for event in events:
            if event.key in stale.stored:
                continue
            cert_id, fragment_id, offer_id = _entities(event.event, event.args)
            if fragment_id is not None:
                cert_id = cert_id or certificate_id_of(fragment_id)
            fresh.append(
                dict(
                    block_number=event.block_number,
                    block_hash=event.block_hash,
                    tx_hash=event.tx_hash,
                    log_index=event.log_index,
                    event=event.event,
                    args=json.dumps(_jsonable(event.args), sort_keys=True),
                    certificate_id=cert_id,
                    fragment_id=fragment_id,
                    offer_id=offer_id,
                )
            )
            if offer_id is not None:
                offers.add(offer_id)
        if fresh:  # one statement for the page (the ORM's unit of work cost more)
            session.execute(insert(ChainEvent), fresh)
        self._fold_offers(session, offers)
        forced_c, forced_f = stale.certs, stale.frags
        certs, frags = touched[0] | forced_c, touched[1] | forced_f
        rows: dict[type, dict[int, Any]] = {
            model: {
                r.id: r
                for r in session.exec(
                    select(model).where(model.id.in_(ids))  # type: ignore[attr-defined]
                ).all()
            }
            if ids
            else {}
            for model, ids in ((CertificateRow, certs), (FragmentRow, frags))
        }
        for cid in sorted(certs):
            self._refresh(
                session,
                rows[CertificateRow].get(cid),
                state.certs[cid],
                state.at,
                cid in forced_c,
                _certificate_row,
            )
        for fid in sorted(frags):
            self._refresh(
                session,
                rows[FragmentRow].get(fid),
                state.frags[fid],
                state.at,
                fid in forced_f,
                _fragment_row,
            )
        return len(fresh)

    @staticmethod
    def _refresh(
        session: Session, row: Any, item: Any, block: int | None, forced: bool, build: Any
    ) -> None:
        """Write ``item`` (state at ``block``) into ``row`` unless the row holds state
        of a later block (``forced``: the row's block was abandoned)."""
        if row is not None and not forced and block is not None and row.block_number > block:
            return
        if item is None or block is None:
            if row is not None:
                session.delete(row)
            return
        session.add(build(row, item, block))

    @staticmethod
    def _fold_offers(session: Session, offer_ids: set[int]) -> None:
        """An offer row is the fold of its stored events in chain order (so it does not
        matter who stored which event first, and undoing an event undoes its effect)."""
        if not offer_ids:
            return
        rows = {
            r.id: r for r in session.exec(select(OfferRow).where(OfferRow.id.in_(offer_ids))).all()
        }  # type: ignore[attr-defined]
        history: dict[int, list[ChainEvent]] = {}
        for e in session.exec(
            select(ChainEvent)
            .where(ChainEvent.offer_id.in_(offer_ids))  # type: ignore[union-attr]
            .order_by(ChainEvent.block_number, ChainEvent.log_index)  # type: ignore[arg-type]
        ).all():
            history.setdefault(int(e.offer_id or 0), []).append(e)
        for offer_id in sorted(offer_ids):
            row = _fold_offer(rows.get(offer_id), history.get(offer_id, []))
            if row is None:
                if offer_id in rows:
                    session.delete(rows[offer_id])
            else:
                session.add(row)

    def _on_reorg(self, reorg: Reorg) -> None:
        """Remember it: the step undoes what the abandoned blocks said in its write phase,
        in the transaction that saves the rolled-back checkpoint (the reader saves its
        checkpoints only through our store, which the step commits)."""
        log.warning("reorg: undoing indexed data above block %d", reorg.undo_above)
        self._reorg = reorg


def _touched(events: Iterable[EventRecord]) -> tuple[set[int], set[int]]:
    """Certificate and fragment ids the events touch (their rows are re-read)."""
    certificates: set[int] = set()
    fragments: set[int] = set()
    for event in events:
        args = event.args
        cert_id, fragment_id, _ = _entities(event.event, args)
        if fragment_id is not None:
            cert_id = cert_id or certificate_id_of(fragment_id)
        for key in ("parentFragmentId", "fragmentId", "rootFragmentId", "financedFragmentId"):
            if key in args and int(args[key]):
                fragments.add(int(args[key]))
        if cert_id:
            certificates.add(cert_id)
    return certificates, fragments


def _certificate_row(row: CertificateRow | None, cert: Certificate, block: int) -> CertificateRow:
    row = row or CertificateRow(
        id=cert.id,
        issuer=cert.issuer,
        beneficiary=cert.beneficiary,
        credit_provider=cert.credit_provider,
        face_value=str(cert.face_value),
        maturity=cert.maturity,
        issued_at=cert.issued_at,
        status="issued",
        invoice_key="0x" + cert.invoice_key.hex(),
        document_hash="0x" + cert.document_hash.hex(),
    )
    row.status = STATUS_NAMES.get(int(cert.status), str(int(cert.status)))
    row.fragment_count = cert.fragment_count
    row.repaid = str(cert.repaid)
    row.paid_out = str(cert.paid_out)
    row.block_number = block
    return row


def _fragment_row(row: FragmentRow | None, fragment: Fragment, block: int) -> FragmentRow:
    row = row or FragmentRow(
        id=fragment.id,
        certificate_id=fragment.certificate_id,
        seq=fragment.seq,
        parent_id=fragment.parent_id,
        holder=fragment.holder,
        value=str(fragment.value),
    )
    row.holder = fragment.holder
    row.value = str(fragment.value)
    row.paid = str(fragment.paid)
    row.block_number = block
    return row


def _fold_offer(row: OfferRow | None, events: list[ChainEvent]) -> OfferRow | None:
    """The offer as its events say (None without its FinancingOffered event)."""
    created = next((e for e in events if e.event == "FinancingOffered"), None)
    if created is None:
        return None
    a = json.loads(created.args)
    row = row or OfferRow(
        id=int(a["offerId"]),
        fragment_id=int(a["fragmentId"]),
        seller=a["seller"],
        financier=a["financier"],
        amount=a["amount"],
        rate_bps=int(a["rateBps"]),
        expires_at=int(a["expiresAt"]),
        status="open",
        block_number=created.block_number,
    )
    row.status = "open"
    row.financed_fragment_id = row.discount = row.payment = None
    row.days = row.accepted_block = None
    row.block_number = created.block_number
    for e in events:
        if e.event == "FinancingWithdrawn":
            row.status, row.block_number = "withdrawn", e.block_number
        elif e.event == "FinancingAccepted":
            b = json.loads(e.args)
            row.status, row.block_number = "accepted", e.block_number
            row.financed_fragment_id = int(b["financedFragmentId"])
            row.discount, row.payment = str(b["discount"]), str(b["payment"])
            row.days, row.accepted_block = int(b["days_"]), e.block_number
    return row


def _certificate_from_words(certificate_id: int, w: Sequence[int]) -> Certificate:
    """getCertificate's twelve static words, in the struct's order."""
    (
        issuer,
        maturity,
        fragment_count,
        status,
        beneficiary,
        paid_out,
        credit_provider,
        issued_at,
        face_value,
        repaid,
        invoice_key,
        document_hash,
    ) = w[:12]
    return Certificate(
        id=certificate_id,
        issuer=word_address(issuer),
        beneficiary=word_address(beneficiary),
        credit_provider=word_address(credit_provider),
        face_value=face_value,
        maturity=maturity,
        issued_at=issued_at,
        status=CertificateStatus(status),
        fragment_count=fragment_count,
        repaid=repaid,
        paid_out=paid_out,
        invoice_key=invoice_key.to_bytes(32, "big"),
        document_hash=document_hash.to_bytes(32, "big"),
    )


def _entities(name: str, args: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    cert = args.get("certificateId")
    fragment = args.get("fragmentId", args.get("rootFragmentId"))
    offer = args.get("offerId")
    return (
        int(cert) if cert is not None else None,
        int(fragment) if fragment is not None else None,
        int(offer) if offer is not None else None,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value
