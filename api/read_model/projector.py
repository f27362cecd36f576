"""The projector: ledger events (and its bid book's) into the read model (events,
certificates, fragments, offers). It is the read model's only writer (docs/design.md): one
per server, driven by the indexing process (:meth:`api.indexer.Indexer.follow`).

Why rows are re-read from the chain rather than folded from event deltas: an event says
*which* certificate or fragment changed; its state at the page's last block is read in one
batched call. Applying a page twice is then harmless, and the read model is checked
against the chain on every update. Offers are built from their events alone (their events
carry every field, :func:`api.read_model.rows.fold_offer`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import Engine, func, insert
from sqlmodel import Session, col, select

from api.models import CertificateRow, ChainEvent, FragmentRow, IndexerCheckpoint, OfferRow
from api.read_model import rows
from api.read_model.checkpoints import DbCheckpointStore
from chain_client.batch import encode_uint_call, words
from chain_client.errors import ContractRevert
from chain_client.events import EventReader, EventRecord, Reorg
from chain_client.ledger import Ledger, certificate_from_words, fragment_from_words
from chain_client.ledger_types import Certificate, Fragment

log = logging.getLogger(__name__)

_GET_CERTIFICATE = function_signature_to_4byte_selector("getCertificate(uint256)")
_GET_FRAGMENT = function_signature_to_4byte_selector("getFragment(uint256)")


@dataclass
class _State:
    """Chain state of certificates and fragments at one block (None: does not exist
    there), read in batched calls *before* the write lock is taken."""

    ledger: Ledger
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
        results = self.ledger.batch.call_many(self.ledger.address, calldatas, block=self.at)
        for cid, data in zip(want_c, results[: len(want_c)], strict=True):
            self.certs[cid] = (
                None
                if isinstance(data, ContractRevert)
                else certificate_from_words(cid, words(data))
            )
        for fid, data in zip(want_f, results[len(want_c) :], strict=True):
            self.frags[fid] = (
                None if isinstance(data, ContractRevert) else fragment_from_words(fid, words(data))
            )


@dataclass
class _Abandoned:
    """What a reorg makes untrue in the read model (:meth:`Projector._abandoned`)."""

    certs: set[int] = field(default_factory=set)  # rows to re-read, even if newer
    frags: set[int] = field(default_factory=set)
    undo: list[ChainEvent] = field(default_factory=list)  # events to delete
    #: (tx hash, log index) of the page's events stored already (blocks above the
    #: surviving checkpoint that are still on the chain)
    stored: set[tuple[str, int]] = field(default_factory=set)


_Row = TypeVar("_Row", CertificateRow, FragmentRow)


def _rows_by_id(session: Session, model: type[_Row], ids: set[int]) -> dict[int, _Row]:
    """The stored rows of ``model`` with these ids (one query; none for no ids)."""
    if not ids:
        return {}
    return {r.id: r for r in session.exec(select(model).where(col(model.id).in_(ids))).all()}


class Projector:
    """Steps the event reader a page at a time and writes what the page says."""

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        *,
        page_size: int = 2_000,
        on_indexed: Callable[[int], None] = lambda block: None,
    ) -> None:
        """``on_indexed(block)``: called after each committed step with the block the read
        model now covers (-1: nothing; lower than before after a reorg)."""
        self.engine = engine
        self.ledger = ledger
        self.on_indexed = on_indexed
        self.store = DbCheckpointStore()
        self.reader = EventReader(
            ledger.w3,
            # the bid book's events (bids, sales to them) are part of the history too
            [ledger.address, ledger.bid_book_address],
            [*ledger.ledger.abi, *(e for e in ledger.book.abi if e.get("type") == "event")],
            self.store,
            start_block=ledger.manifest.deployment_block,
            page_size=page_size,
            on_reorg=self._on_reorg,
        )
        self._lock = threading.Lock()  # one step at a time
        self._reorg: Reorg | None = None
        self.indexed_block = self.stored_block(engine)

    @staticmethod
    def stored_block(engine: Engine) -> int:
        """The block the read model in ``engine`` covers, as its newest checkpoint says."""
        with Session(engine) as session:
            newest = session.exec(select(func.max(IndexerCheckpoint.block_number))).one()
        return -1 if newest is None else int(newest)

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
                at = result.checkpoint.block_number if result.checkpoint is not None else None
                prev = before[-1].block_number if before else self.reader.start_block - 1
                if reorg is None and (at is None or at <= prev):
                    self.store.pending = None  # nothing written: the table is as loaded
                    committed = True
                    return 0  # nothing new
                # Read the chain first (outside the write lock): the state of what the
                # page touches, and of what a reorg touched.
                state = _State(self.ledger, at)
                certs, frags = rows.touched(result.events)
                abandoned = (
                    self._abandoned(session, reorg, result.events)
                    if reorg is not None
                    else _Abandoned()
                )
                state.ensure(certs | abandoned.certs, frags | abandoned.frags)
                stored = self._write_page(session, result.events, state, abandoned, (certs, frags))
                self.store.write()
                session.commit()
                committed = True
                self.indexed_block = at if at is not None else -1
                self.on_indexed(self.indexed_block)
            except BaseException:
                session.rollback()
                raise
            finally:
                self.store.end(committed)
                self._reorg = None
            return stored

    def catch_up(self, max_pages: int = 1_000, until: int = -1) -> int:
        """Index until the chain head (as far as confirmations allow), or until ``until``
        if that is later (a block mined since: the next step reads the new head)."""
        total = 0
        for _ in range(max_pages):
            before = self.indexed_block
            total += self.step()
            if self.indexed_block == before:
                break  # nothing new is readable
            if self.indexed_block >= max(self.reader.last_safe_head, until):
                break
        return total

    def sync_to(self, block: int) -> None:
        """Make sure everything up to ``block`` is indexed (stepping in this thread)."""
        for _ in range(100):
            if self.indexed_block >= block:
                return
            self.step(unless_indexed=block)

    # -- writing ----------------------------------------------------------------------------

    @staticmethod
    def _abandoned(session: Session, reorg: Reorg, events: list[EventRecord]) -> _Abandoned:
        """After a reorg: every event above the surviving checkpoint and every row read in
        the abandoned blocks, except the page's events that are stored already (a block
        above the checkpoint that is still on the chain).

        Every stored event is at or below the newest checkpoint (the projector stores
        events and checkpoint in one transaction), so without a reorg a page's blocks
        hold nothing stored and nothing is looked up."""
        found = _Abandoned()
        page = {(e.tx_hash, e.log_index, e.block_hash) for e in events}
        above = reorg.undo_above
        for e in session.exec(select(ChainEvent).where(ChainEvent.block_number > above)).all():
            if (e.tx_hash, e.log_index, e.block_hash) in page:
                found.stored.add((e.tx_hash, e.log_index))
            else:
                found.undo.append(e)
        found.certs |= set(
            session.exec(select(CertificateRow.id).where(CertificateRow.block_number > above)).all()
        )
        found.frags |= set(
            session.exec(select(FragmentRow.id).where(FragmentRow.block_number > above)).all()
        )
        for e in found.undo:
            if e.certificate_id:
                found.certs.add(e.certificate_id)
            if e.fragment_id:
                found.frags.add(e.fragment_id)
            found.frags |= rows.fragments_named(json.loads(e.args))
        return found

    def _write_page(
        self,
        session: Session,
        events: list[EventRecord],
        state: _State,
        abandoned: _Abandoned,
        touched: tuple[set[int], set[int]],
    ) -> int:
        """Undo what was abandoned, store the page's new events, fold the offers they
        touch, and refresh the rows they touch (``touched``, :func:`rows.touched`) from
        ``state``, which holds them and the abandoned ones already: every row the page
        touches (a row may have been regressed during a reorg), rows read in abandoned
        blocks forced."""
        offers = {e.offer_id for e in abandoned.undo if e.offer_id}
        for e in abandoned.undo:
            session.delete(e)
        if abandoned.undo:
            session.flush()
            log.warning("read model: undid %d events of abandoned blocks", len(abandoned.undo))
        fresh = [rows.event_row(event) for event in events if event.key not in abandoned.stored]
        offers |= {row["offer_id"] for row in fresh if row["offer_id"] is not None}
        if fresh:  # one statement for the page (the ORM's unit of work cost more)
            session.execute(insert(ChainEvent), fresh)
        self._fold_offers(session, offers)
        forced_c, forced_f = abandoned.certs, abandoned.frags
        certs, frags = touched[0] | forced_c, touched[1] | forced_f
        cert_rows = _rows_by_id(session, CertificateRow, certs)
        frag_rows = _rows_by_id(session, FragmentRow, frags)
        for cid in sorted(certs):
            self._refresh(
                session,
                cert_rows.get(cid),
                state.certs[cid],
                state.at,
                cid in forced_c,
                rows.certificate_row,
            )
        for fid in sorted(frags):
            self._refresh(
                session,
                frag_rows.get(fid),
                state.frags[fid],
                state.at,
                fid in forced_f,
                rows.fragment_row,
            )
        return len(fresh)

    @staticmethod
    def _refresh(
        session: Session,
        row: Any,
        item: Any,
        block: int | None,
        forced: bool,
        build: Callable[[Any, Any, int], Any],
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
        """An offer row is the fold of its stored events in chain order (so undoing an
        event undoes its effect)."""
        if not offer_ids:
            return
        current = {
            r.id: r
            for r in session.exec(select(OfferRow).where(col(OfferRow.id).in_(offer_ids))).all()
        }
        history: dict[int, list[ChainEvent]] = {}
        for e in session.exec(
            select(ChainEvent)
            .where(col(ChainEvent.offer_id).in_(offer_ids))
            .order_by(col(ChainEvent.block_number), col(ChainEvent.log_index))
        ).all():
            history.setdefault(int(e.offer_id or 0), []).append(e)
        for offer_id in sorted(offer_ids):
            row = rows.fold_offer(current.get(offer_id), history.get(offer_id, []))
            if row is None:
                if offer_id in current:
                    session.delete(current[offer_id])
            else:
                session.add(row)

    def _on_reorg(self, reorg: Reorg) -> None:
        """Remember it: the step undoes what the abandoned blocks said in its write phase,
        in the transaction that saves the rolled-back checkpoint (the reader saves its
        checkpoints only through our store, which the step commits)."""
        log.warning("reorg: undoing indexed data above block %d", reorg.undo_above)
        self._reorg = reorg
