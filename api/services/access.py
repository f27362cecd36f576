"""Who may see which record. Role checks are per endpoint (api.auth.require_roles); these
are the organization checks: a supplier sees its own holdings, an issuer its own
certificates, a bank what it holds or was offered, the operator and auditors everything.
Records a caller may not see answer 404, not 403, so their existence does not leak.

The rule, the same on every endpoint, reads and commands alike (docs/api.md):

1. 401 without a valid key; 403 ``wrong_role`` when the caller's role may never do this
   (it depends on who asks, never on the record);
2. 404 ``unknown_<kind>`` when the record does not exist *or the caller may not see it*,
   checked before the chain is asked (``*_for_command`` below), so that a missing id and
   another organization's id answer alike, with the same status and code;
3. only then 403 with the ledger's reason (``not_holder``, ``not_issuer``, ...) when the
   caller sees the record but is not the party who may act on it (a bank that underwrote
   a certificate sees its fragments but may not split them), or a 4xx from the ledger.

Visibility comes from the read model, which lags the chain by up to one indexer pass (a
fragment received a moment ago): when it says no, the chain is asked whether the caller
is the party itself before answering 404 (that costs a chain read on refusals only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from api.auth import OPERATOR, Principal
from api.models import CertificateRow, Document, FragmentRow, OfferRow, Organization
from api.problems import Problem
from chain_client import ledger_types
from chain_client.errors import ContractRevert
from chain_client.ledger import Ledger
from chain_client.ledger_types import fragment_id_bounds

MAX_DB_INT = 2**31 - 1
#: the read model's fragment ids are signed 64-bit integers (BIGINT)
MAX_FRAGMENT_ID = 2**63 - 1


def not_found(kind: str, ident: object) -> Problem:
    return Problem(
        404,
        f"unknown_{kind}",
        f"No such {kind}",
        f"There is no {kind} {ident} that your organization may see.",
    )


def self_or_operator(p: Principal, org_id: int) -> None:
    """403 ``forbidden`` unless the caller is the organization itself or the operator (its
    keys, its people, its approval policy)."""
    if p.role != OPERATOR and p.org_id != org_id:
        raise Problem(
            403,
            "forbidden",
            "Not your organization",
            "Only the organization itself or the operator may do this.",
        )


def org_or_422(session: Session, org_id: int, *, what: str = "counterparty") -> Organization:
    org = session.get(Organization, org_id) if 0 < org_id <= MAX_DB_INT else None
    if org is None or org.address is None or org.status == "onboarding":
        raise Problem(
            422,
            "unknown_member",
            "Unknown member",
            f"The {what} (organization {org_id}) is not a member of the ledger.",
        )
    return org


def parse_fragment_id(text: str) -> int:
    """A fragment id in a request (path or body), or 404 ``unknown_fragment``.

    The API's rule is narrower than the shared decoder's
    (:func:`chain_client.ledger_types.parse_fragment_id`): the id in ASCII decimal only,
    as the OpenAPI document declares it, within the read model's BIGINT; anything else
    (hex, ``certificate/seq``, other scripts' digits, certificate 0) names no fragment."""
    if not ledger_types.is_ascii_decimal(text):
        raise not_found("fragment", text)
    try:
        value = ledger_types.parse_fragment_id(text)
    except ValueError:
        raise not_found("fragment", text) from None
    if value > MAX_FRAGMENT_ID:
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
        select(FragmentRow.id)
        .where(FragmentRow.certificate_id == cert.id)
        .where(FragmentRow.holder == me)
    ).first()
    if held is not None:
        return True
    first, end = fragment_id_bounds(cert.id)
    offered = session.exec(
        select(OfferRow.id)
        .where(OfferRow.financier == me)
        .where(col(OfferRow.fragment_id) >= first, col(OfferRow.fragment_id) < end)
    ).first()
    return offered is not None


def fragment_visible(session: Session, p: Principal, frag: FragmentRow) -> bool:
    return fragment_visibility(session, p, frag.certificate_id)(frag.id, frag.holder)


def fragment_visibility(session: Session, p: Principal, cert_id: int) -> Callable[[int, str], bool]:
    """Whether the caller may see a fragment (by id and holder) of certificate
    ``cert_id``: its holder, the certificate's issuer and credit provider, the seller and
    financier of an offer on it. For one fragment or a whole tree: the certificate and
    the caller's offers on it are read once, and only if the holder is someone else."""
    me = p.address
    if p.sees_everything or me is None:
        return lambda _id, _holder: p.sees_everything
    known: dict[str, Any] = {}

    def visible(fragment_id: int, holder: str) -> bool:
        if holder == me:
            return True
        if not known:
            first, end = fragment_id_bounds(cert_id)
            cert = session.get(CertificateRow, cert_id)
            known["all"] = cert is not None and me in (cert.issuer, cert.credit_provider)
            known["offered"] = (
                set()
                if known["all"]
                else set(
                    session.exec(
                        select(OfferRow.fragment_id)
                        .where(col(OfferRow.fragment_id) >= first, col(OfferRow.fragment_id) < end)
                        .where((OfferRow.financier == me) | (OfferRow.seller == me))
                    ).all()
                )
            )
        return bool(known["all"]) or fragment_id in known["offered"]

    return visible


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


# -- the record a command acts on (rule 2 above) --------------------------------------------


def fragment_for_command(
    session: Session, ledger: Ledger, p: Principal, fragment_id: int
) -> tuple[str, int]:
    """(holder, value) of the fragment a command acts on, or 404 if the caller may not
    see it (in the read model, or as its holder on chain)."""
    frag = session.get(FragmentRow, fragment_id)
    if frag is not None and fragment_visible(session, p, frag):
        return frag.holder, int(frag.value)
    try:
        chain = ledger.fragment(fragment_id)
    except ContractRevert:
        raise not_found("fragment", fragment_id) from None
    if p.address is None or chain.holder != p.address:
        raise not_found("fragment", fragment_id)
    return chain.holder, chain.value


def certificate_for_command(session: Session, ledger: Ledger, p: Principal, cert_id: int) -> None:
    """404 unless the caller may see the certificate (in the read model, or as its
    issuer, beneficiary or credit provider on chain)."""
    cert = session.get(CertificateRow, cert_id) if 0 < cert_id <= MAX_DB_INT else None
    if cert is not None and certificate_visible(session, p, cert):
        return
    try:
        chain = ledger.certificate(cert_id)
    except ContractRevert:
        raise not_found("certificate", cert_id) from None
    if p.address is None or p.address not in (
        chain.issuer,
        chain.beneficiary,
        chain.credit_provider,
    ):
        raise not_found("certificate", cert_id)


def offer_for_command(session: Session, ledger: Ledger, p: Principal, offer_id: int) -> None:
    """404 unless the caller may see the offer (its seller or financier)."""
    offer = session.get(OfferRow, offer_id) if 0 < offer_id <= MAX_DB_INT else None
    if offer is not None and offer_visible(p, offer):
        return
    try:
        chain = ledger.offer(offer_id)
    except ContractRevert:
        raise not_found("offer", offer_id) from None
    if p.address is None or p.address not in (chain.seller, chain.financier):
        raise not_found("offer", offer_id)
