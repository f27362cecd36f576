"""What an event means for the read model's rows: which records it touches, and the row
of a certificate, a fragment or an offer built from chain state or from events.

Pure functions, no database or chain access: :mod:`api.read_model.projector` reads the
state and writes the rows; this module only says what goes in them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from api.models import CertificateRow, ChainEvent, FragmentRow, OfferRow
from chain_client.encoding import jsonable, to_hex
from chain_client.events import EventRecord, FinancingAccepted, FinancingOffered, OfferPartyMoved
from chain_client.ledger_types import Certificate, Fragment, certificate_id_of

#: event arguments that name a fragment whose row the event changes
FRAGMENT_KEYS = ("parentFragmentId", "fragmentId", "rootFragmentId", "financedFragmentId")


def entities(args: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(certificate, fragment, offer) an event is filed under in ``chain_events`` (the
    histories of the API read it by these columns). An event that names only a fragment
    is filed under the fragment's certificate too."""
    cert = args.get("certificateId")
    fragment = args.get("fragmentId", args.get("rootFragmentId"))
    offer = args.get("offerId")
    cert_id = int(cert) if cert is not None else None
    fragment_id = int(fragment) if fragment is not None else None
    if fragment_id is not None:
        cert_id = cert_id or certificate_id_of(fragment_id)
    return cert_id, fragment_id, int(offer) if offer is not None else None


def fragments_named(args: dict[str, Any]) -> set[int]:
    """The fragments an event's (stored or decoded) arguments name; 0 is no fragment."""
    return {int(args[key]) for key in FRAGMENT_KEYS if args.get(key) is not None and int(args[key])}


def touched(events: Iterable[EventRecord]) -> tuple[set[int], set[int]]:
    """Certificate and fragment ids the events touch (their rows are re-read)."""
    certificates: set[int] = set()
    fragments: set[int] = set()
    for event in events:
        cert_id, _, _ = entities(event.args)
        fragments |= fragments_named(event.args)
        if cert_id:
            certificates.add(cert_id)
    return certificates, fragments


def event_row(event: EventRecord) -> dict[str, Any]:
    """The ``chain_events`` row of a decoded log, as insert parameters. Arguments are
    stored as JSON with every integer a decimal string (uint256 values of any size)."""
    cert_id, fragment_id, offer_id = entities(event.args)
    return dict(
        block_number=event.block_number,
        block_hash=event.block_hash,
        tx_hash=event.tx_hash,
        log_index=event.log_index,
        event=event.event,
        args=json.dumps(jsonable(event.args, ints_as_strings=True), sort_keys=True),
        certificate_id=cert_id,
        fragment_id=fragment_id,
        offer_id=offer_id,
    )


def certificate_row(row: CertificateRow | None, cert: Certificate, block: int) -> CertificateRow:
    """``row`` (or a new one) holding ``cert`` as read at ``block``. Its parties are copied
    each time: a key rotation moves them (CertificatePartyMoved)."""
    row = row or CertificateRow(
        id=cert.id,
        issuer=cert.issuer,
        beneficiary=cert.beneficiary,
        credit_provider=cert.credit_provider,
        face_value=str(cert.face_value),
        maturity=cert.maturity,
        issued_at=cert.issued_at,
        status=cert.status.label,
        invoice_key=to_hex(cert.invoice_key),
        document_hash=to_hex(cert.document_hash),
    )
    row.issuer, row.beneficiary = cert.issuer, cert.beneficiary
    row.credit_provider = cert.credit_provider
    row.status = cert.status.label
    row.fragment_count = cert.fragment_count
    row.repaid = str(cert.repaid)
    row.paid_out = str(cert.paid_out)
    row.block_number = block
    return row


def fragment_row(row: FragmentRow | None, fragment: Fragment, block: int) -> FragmentRow:
    """``row`` (or a new one) holding ``fragment`` as read at ``block`` (its holder changes
    by a transfer, a financing or a key rotation's HoldingMoved)."""
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


def fold_offer(row: OfferRow | None, events: list[ChainEvent]) -> OfferRow | None:
    """The offer as its stored events say, in chain order (None without its
    FinancingOffered event). Why a fold and not the chain's offer record: an offer's
    events carry every field, so no chain read is needed, and undoing an event of an
    abandoned block undoes its effect. A key rotation's OfferPartyMoved replaces the
    retired key as seller or financier."""
    created = next((e for e in events if e.event == FinancingOffered.EVENT), None)
    if created is None:
        return None
    offered = FinancingOffered.from_args(
        json.loads(created.args), block_number=created.block_number, log_index=created.log_index
    )
    row = row or OfferRow(
        id=offered.offer_id,
        fragment_id=offered.fragment_id,
        seller=offered.seller,
        financier=offered.financier,
        amount=str(offered.amount),
        rate_bps=offered.rate_bps,
        expires_at=offered.expires_at,
        status="open",
        block_number=created.block_number,
    )
    row.status = "open"
    row.seller, row.financier = offered.seller, offered.financier
    row.financed_fragment_id = row.discount = row.payment = None
    row.days = row.accepted_block = None
    row.block_number = created.block_number
    for e in events:
        if e.event == "FinancingWithdrawn":
            row.status, row.block_number = "withdrawn", e.block_number
        elif e.event == FinancingAccepted.EVENT:
            accepted = FinancingAccepted.from_args(
                json.loads(e.args), block_number=e.block_number, log_index=e.log_index
            )
            row.status, row.block_number = "accepted", e.block_number
            row.financed_fragment_id = accepted.financed_fragment_id
            row.discount, row.payment = str(accepted.discount), str(accepted.payment)
            row.days, row.accepted_block = accepted.days, e.block_number
        elif e.event == OfferPartyMoved.EVENT:
            moved = OfferPartyMoved.from_args(
                json.loads(e.args), block_number=e.block_number, log_index=e.log_index
            )
            if row.seller == moved.from_account:
                row.seller = moved.to_account
            if row.financier == moved.from_account:
                row.financier = moved.to_account
    return row
