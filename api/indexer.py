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
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

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
from chain_client.ledger import Ledger
from chain_client.ledger_types import (
    Certificate,
    CertificateStatus,
    Fragment,
    certificate_id_of,
)

log = logging.getLogger(__name__)

_GET_CERTIFICATE = function_signature_to_4byte_selector("getCertificate(uint256)")

STATUS_NAMES = {
    0: "none", 1: "issued", 2: "active", 3: "rejected", 4: "revoked", 5: "settled",
    6: "overdue", 7: "defaulted",
}


class DbCheckpointStore:
    """CheckpointStore over the ``indexer_checkpoints`` table, in the caller's session.

    ``save`` only remembers the checkpoints; :meth:`write` puts them into the session
    just before the step commits. Why: the first write of a transaction takes SQLite's
    database-wide write lock, and a step still reads the chain after the reader saved
    its checkpoint: holding the lock through those calls stalled every command's
    journal write behind the indexer.
    """

    def __init__(self) -> None:
        self.session: Session | None = None
        self.pending: list[Checkpoint] | None = None

    def load(self) -> list[Checkpoint]:
        assert self.session is not None
        if self.pending is not None:
            return list(self.pending)
        rows = self.session.exec(
            select(IndexerCheckpoint).order_by(IndexerCheckpoint.position)  # type: ignore[arg-type]
        ).all()
        return [Checkpoint(r.block_number, r.block_hash) for r in rows]

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        assert self.session is not None
        self.pending = list(checkpoints)

    def write(self) -> None:
        """Stage the saved checkpoints in the session (the caller commits)."""
        assert self.session is not None
        if self.pending is None:
            return
        self.session.exec(delete(IndexerCheckpoint))  # type: ignore[call-overload]
        for position, cp in enumerate(self.pending):
            self.session.add(IndexerCheckpoint(
                position=position, block_number=cp.block_number, block_hash=cp.block_hash
            ))
        self.session.flush()


class Indexer:
    def __init__(self, engine: Engine, ledger: Ledger, *, page_size: int = 2_000) -> None:
        self.engine = engine
        self.ledger = ledger
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
        self._lock = threading.Lock()
        self.indexed_block = -1

    def step(self, *, unless_indexed: int | None = None) -> int:
        """Index at most one page; returns how many events were stored.

        ``unless_indexed``: do nothing if that block is indexed by the time the lock is
        ours (another thread's step, which we waited for, may have covered it)."""
        with self._lock, Session(self.engine, expire_on_commit=False) as session:
            if unless_indexed is not None and self.indexed_block >= unless_indexed:
                return 0
            self.store.session = session
            self.store.pending = None
            try:
                result = self.reader.poll()
                stored = self._apply(session, result.events, result.checkpoint)
                self.store.write()
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                self.store.session = None
                self.store.pending = None
            if result.checkpoint is not None:
                self.indexed_block = result.checkpoint.block_number
            return stored

    def catch_up(self, max_pages: int = 1_000) -> int:
        """Index until the chain head (as far as confirmations allow)."""
        total = 0
        for _ in range(max_pages):
            before = self.indexed_block
            total += self.step()
            if self.indexed_block >= self.reader.safe_head() or self.indexed_block == before:
                break
        return total

    def sync_to(self, block: int) -> None:
        """Make sure everything up to ``block`` is indexed (read-your-writes for commands)."""
        for _ in range(100):
            if self.indexed_block >= block:
                return
            self.step(unless_indexed=block)

    # -- applying events --------------------------------------------------------------------

    def _apply(
        self, session: Session, events: list[EventRecord], checkpoint: Checkpoint | None
    ) -> int:
        if not events or checkpoint is None:
            return 0
        certificates: set[int] = set()
        fragments: set[int] = set()
        known = {
            (e.tx_hash, e.log_index)
            for e in session.exec(
                select(ChainEvent).where(
                    ChainEvent.tx_hash.in_({e.tx_hash for e in events})  # type: ignore[attr-defined]
                )
            ).all()
        }
        fresh = []
        for event in events:
            if event.key in known:
                continue
            args = event.args
            cert_id, fragment_id, offer_id = _entities(event.event, args)
            if fragment_id is not None:
                cert_id = cert_id or certificate_id_of(fragment_id)
            for key in ("parentFragmentId", "fragmentId", "rootFragmentId", "financedFragmentId"):
                if key in args and int(args[key]):
                    fragments.add(int(args[key]))
            if cert_id:
                certificates.add(cert_id)
            fresh.append((event, cert_id, fragment_id, offer_id))
        # Read the chain first, write afterwards: the first write takes SQLite's write
        # lock, which every command needs too (see DbCheckpointStore).
        at = checkpoint.block_number
        certs = self._certificates(sorted(certificates), at)
        frags = self.ledger.fragments(sorted(fragments), block=at) if fragments else []
        # The rows this page touches, in three queries rather than one per row.
        offer_ids = {offer_id for _, _, _, offer_id in fresh if offer_id is not None}
        rows: dict[type, dict[int, Any]] = {
            model: {r.id: r for r in session.exec(
                select(model).where(model.id.in_(ids))  # type: ignore[attr-defined]
            ).all()} if ids else {}
            for model, ids in ((CertificateRow, certificates), (FragmentRow, fragments),
                               (OfferRow, offer_ids))
        }
        for event, cert_id, fragment_id, offer_id in fresh:
            session.add(ChainEvent(
                block_number=event.block_number,
                block_hash=event.block_hash,
                tx_hash=event.tx_hash,
                log_index=event.log_index,
                event=event.event,
                args=json.dumps(_jsonable(event.args), sort_keys=True),
                certificate_id=cert_id,
                fragment_id=fragment_id,
                offer_id=offer_id,
            ))
            self._apply_offer(session, event, rows[OfferRow])
        session.flush()
        for cert in certs:
            self._refresh_certificate(session, cert, at, rows[CertificateRow])
        for item in frags:
            if isinstance(item, ContractRevert):
                continue
            self._refresh_fragment(session, item, at, rows[FragmentRow])
        return len(fresh)

    def _certificates(self, ids: list[int], block: int) -> list[Certificate]:
        """Certificates in one batched request (one eth_call each was a round trip and an
        ABI lookup per certificate, all of it under the indexer's lock)."""
        calldatas = [encode_uint_call(_GET_CERTIFICATE, cid) for cid in ids]
        found = []
        for cid, data in zip(ids, self.ledger.batch.call_many(self.ledger.address, calldatas,
                                                              block=block), strict=True):
            if isinstance(data, ContractRevert):
                raise data
            found.append(_certificate_from_words(cid, words(data)))
        return found

    @staticmethod
    def _refresh_certificate(
        session: Session, cert: Certificate, block: int, known: dict[int, Any]
    ) -> None:
        row = known.get(cert.id) or CertificateRow(
            id=cert.id, issuer=cert.issuer, beneficiary=cert.beneficiary,
            credit_provider=cert.credit_provider, face_value=str(cert.face_value),
            maturity=cert.maturity, issued_at=cert.issued_at, status="issued",
            invoice_key="0x" + cert.invoice_key.hex(),
            document_hash="0x" + cert.document_hash.hex(),
        )
        row.status = STATUS_NAMES.get(int(cert.status), str(int(cert.status)))
        row.fragment_count = cert.fragment_count
        row.repaid = str(cert.repaid)
        row.paid_out = str(cert.paid_out)
        row.block_number = block
        session.add(row)

    @staticmethod
    def _refresh_fragment(
        session: Session, fragment: Fragment, block: int, known: dict[int, Any]
    ) -> None:
        row = known.get(fragment.id) or FragmentRow(
            id=fragment.id, certificate_id=fragment.certificate_id, seq=fragment.seq,
            parent_id=fragment.parent_id, holder=fragment.holder, value=str(fragment.value),
        )
        row.holder = fragment.holder
        row.value = str(fragment.value)
        row.paid = str(fragment.paid)
        row.block_number = block
        session.add(row)

    @staticmethod
    def _apply_offer(session: Session, event: EventRecord, known: dict[int, Any]) -> None:
        """``known``: the page's offer rows by id (new ones are added to it)."""
        args = event.args
        if event.event == "FinancingOffered":
            offer_id = int(args["offerId"])
            if offer_id not in known:
                known[offer_id] = OfferRow(
                    id=offer_id, fragment_id=int(args["fragmentId"]), seller=args["seller"],
                    financier=args["financier"], amount=str(args["amount"]),
                    rate_bps=int(args["rateBps"]), expires_at=int(args["expiresAt"]),
                    status="open", block_number=event.block_number,
                )
                session.add(known[offer_id])
        elif event.event in ("FinancingWithdrawn", "FinancingAccepted"):
            offer = known.get(int(args["offerId"]))
            if offer is None:
                return
            offer.block_number = event.block_number
            if event.event == "FinancingWithdrawn":
                offer.status = "withdrawn"
            else:
                offer.status = "accepted"
                offer.financed_fragment_id = int(args["financedFragmentId"])
                offer.discount = str(args["discount"])
                offer.payment = str(args["payment"])
                offer.days = int(args["days_"])
                offer.accepted_block = event.block_number
            session.add(offer)

    def _on_reorg(self, reorg: Reorg) -> None:
        """Drop what the abandoned blocks said; the re-read restores the truth."""
        session = self.store.session
        assert session is not None
        above = reorg.undo_above
        orphaned = session.exec(select(ChainEvent).where(ChainEvent.block_number > above)).all()
        for event in orphaned:
            if event.offer_id and event.event == "FinancingOffered":
                offer = session.get(OfferRow, event.offer_id)
                if offer is not None:
                    session.delete(offer)
            session.delete(event)
        session.flush()
        log.warning("reorg: dropped %d indexed events above block %d", len(orphaned), above)


def _certificate_from_words(certificate_id: int, w: Sequence[int]) -> Certificate:
    """getCertificate's twelve static words, in the struct's order."""
    (issuer, maturity, fragment_count, status, beneficiary, paid_out, credit_provider,
     issued_at, face_value, repaid, invoice_key, document_hash) = w[:12]
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
