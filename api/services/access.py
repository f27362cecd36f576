"""Who may see which record. Role checks are per endpoint (api.auth.require_roles); these
are the organization checks: a supplier sees its own holdings, an issuer its own
certificates, a bank what it holds or was offered, the operator and auditors everything.
Records a caller may not see answer 404, not 403, so their existence does not leak."""

from __future__ import annotations

from sqlmodel import Session, select

from api.auth import Principal
from api.models import CertificateRow, Document, FragmentRow, OfferRow, Organization
from api.problems import Problem
from chain_client.ledger_types import certificate_id_of

MAX_DB_INT = 2**31 - 1
MAX_FRAGMENT_ID = 2**63 - 1


def not_found(kind: str, ident: object) -> Problem:
    return Problem(404, f"unknown_{kind}", f"No such {kind}", f"There is no {kind} {ident} "
                   "that your organization may see.")


def org_or_422(session: Session, org_id: int, *, what: str = "counterparty") -> Organization:
    org = session.get(Organization, org_id) if 0 < org_id <= MAX_DB_INT else None
    if org is None or org.address is None or org.status == "onboarding":
        raise Problem(422, "unknown_member", "Unknown member",
                      f"The {what} (organization {org_id}) is not a member of the ledger.")
    return org


def parse_fragment_id(text: str) -> int:
    value = int(text)
    if value > MAX_FRAGMENT_ID or value & 0xFFFFFFFF_00000000 == 0:
        raise not_found("fragment", text)
    return value


def certificate_visible(session: Session, p: Principal, cert: CertificateRow) -> bool:
    if p.sees_everything:
        return True
    me = p.address
    if me is None:
        return False
    if me in (cert.issuer, cert.beneficiary, cert.credit_provider):
        return True
    held = session.exec(
        select(FragmentRow.id).where(FragmentRow.certificate_id == cert.id)
        .where(FragmentRow.holder == me)
    ).first()
    if held is not None:
        return True
    offered = session.exec(
        select(OfferRow.id).where(OfferRow.financier == me)
        .where(OfferRow.fragment_id >= cert.id << 32)  # type: ignore[operator]
        .where(OfferRow.fragment_id < (cert.id + 1) << 32)  # type: ignore[operator]
    ).first()
    return offered is not None


def fragment_visible(session: Session, p: Principal, frag: FragmentRow) -> bool:
    if p.sees_everything:
        return True
    me = p.address
    if me is None:
        return False
    if frag.holder == me:
        return True
    cert = session.get(CertificateRow, frag.certificate_id)
    if cert is not None and me in (cert.issuer, cert.credit_provider):
        return True
    offered = session.exec(
        select(OfferRow.id).where(OfferRow.fragment_id == frag.id)
        .where((OfferRow.financier == me) | (OfferRow.seller == me))
    ).first()
    return offered is not None


def offer_visible(p: Principal, offer: OfferRow) -> bool:
    return p.sees_everything or p.address in (offer.seller, offer.financier)


def document_visible(session: Session, p: Principal, doc: Document) -> bool:
    if p.sees_everything or doc.org_id == p.org_id:
        return True
    if doc.certificate_id is None:
        return False
    cert = session.get(CertificateRow, doc.certificate_id)
    return cert is not None and certificate_visible(session, p, cert)


def certificate_or_404(session: Session, p: Principal, cert_id: int) -> CertificateRow:
    cert = session.get(CertificateRow, cert_id) if 0 < cert_id <= MAX_DB_INT else None
    if cert is None or not certificate_visible(session, p, cert):
        raise not_found("certificate", cert_id)
    return cert


def fragment_or_404(session: Session, p: Principal, fragment_id: int) -> FragmentRow:
    frag = session.get(FragmentRow, fragment_id)
    if frag is None or not fragment_visible(session, p, frag):
        raise not_found("fragment", fragment_id)
    return frag


def certificate_of_fragment(session: Session, fragment_id: int) -> CertificateRow | None:
    return session.get(CertificateRow, certificate_id_of(fragment_id))
