"""Credit lines, financing offers, quotes (with their arithmetic), bank acceptance."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import (
    FINANCIER,
    HOLDERS,
    Principal,
    authenticate,
    member_suspended,
    open_to_suspended,
    require_roles,
)
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response, run_on_record
from api.deps import ReadSessionDep, RuntimeDep, command_context
from api.models import CertificateRow, OfferRow, Organization
from api.problems import Problem
from api.quotas import check_split
from api.schemas import (
    AcceptOfferAnswer,
    CreditLineAnswer,
    CreditLineRequest,
    CreditLineView,
    OfferAnswer,
    OfferQuote,
    OfferRequest,
    OfferView,
    QuotePreviewRequest,
    QuoteView,
    WithdrawOfferAnswer,
    fen,
    offer_view,
)
from api.services.access import (
    MAX_DB_INT,
    fragment_for_command,
    fragment_or_404,
    not_found,
    offer_for_command,
    offer_visible,
    org_or_422,
    parse_fragment_id,
)
from chain_client import discount as discount_rule
from chain_client.ledger_types import certificate_id_of

router = APIRouter(prefix="/v1", tags=["financing"])
OfferId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


@router.put("/credit-lines", response_model=CreditLineAnswer)
@open_to_suspended(FINANCIER)
def set_credit_line(
    body: CreditLineRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(FINANCIER)),  # noqa: B008
) -> JSONResponse:
    """Financier: grant, change or close (limit "0") its credit line to a core enterprise.

    A suspended financier may still lower or close a line (never raise it, 403
    ``member_suspended``), as the ledger allows: a suspension stops exposure from growing,
    it must not keep it open. A line to a suspended core enterprise may be lowered or
    closed too (raising it, the ledger refuses with the same code)."""

    def plan() -> ChainPlan:
        core = org_or_422(session, body.core_enterprise_id, what="core enterprise")
        limit = fen(body.limit)
        if limit >= 2**128:
            raise Problem(
                422,
                "invalid_amount",
                "The limit is too large",
                "A credit line limit must be below 2**128 fen.",
            )
        if p.suspended:  # checked here for a clear answer; the ledger checks it again
            current = rt.gateway.ledger.credit_line(p.address or "", core.address or "").limit
            if limit > current:
                raise member_suspended(
                    f"Your organization is suspended by the platform operator: it may lower "
                    f"or close its credit line (now {current} fen), not raise it."
                )
        return catalogue.SET_CREDIT_LINE.plan(p.address or "", core.address or "", limit)

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.SET_CREDIT_LINE,
            f"core:{body.core_enterprise_id}",
            body.model_dump(),
            plan,
        )
    )


@router.get("/credit-lines", response_model=list[CreditLineView])
def list_credit_lines(
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[CreditLineView]:
    """Lines between financiers and core enterprises the caller is party to (all, for
    the operator and auditors), read from the chain."""
    orgs = session.exec(select(Organization).where(col(Organization.address).is_not(None))).all()
    banks = [o for o in orgs if o.role == "financier"]
    cores = [o for o in orgs if o.role == "core_enterprise"]
    lines = []
    for bank in banks:
        for core in cores:
            if not (p.sees_everything or p.org_id in (bank.id, core.id)):
                continue
            line = rt.gateway.ledger.credit_line(bank.address or "", core.address or "")
            if (line.limit or line.used) and bank.id is not None and core.id is not None:
                lines.append(
                    CreditLineView(
                        financier_id=bank.id,
                        core_enterprise_id=core.id,
                        limit=str(line.limit),
                        used=str(line.used),
                        available=str(line.available),
                    )
                )
    return lines


@router.post("/offers", status_code=201, response_model=OfferAnswer)
def create_offer(
    body: OfferRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """Holder: offer (part of) a fragment to a bank at a rate, until ``expires_at``."""
    fid = parse_fragment_id(body.fragment_id)

    def plan() -> ChainPlan:
        holder, value = fragment_for_command(session, rt.gateway.ledger, p, fid)
        amount = fen(body.amount)  # less than the value: the ledger splits it at acceptance
        check_split(rt.settings.min_split_fen, amount, value if holder == p.address else None)
        bank = org_or_422(session, body.financier_id, what="financier")
        return catalogue.OFFER.plan(
            p.address or "", fid, bank.address or "", amount, body.rate_bps, body.expires_at
        )

    return command_response(
        rt.runner.run_chain(ctx, catalogue.OFFER, f"fragment:{fid}", body.model_dump(), plan)
    )


@router.get("/offers", response_model=list[OfferView])
def list_offers(
    session: ReadSessionDep,
    status: Literal["open", "accepted", "withdrawn"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[OfferView]:
    query = select(OfferRow).order_by(OfferRow.id)  # type: ignore[arg-type]
    if status:
        query = query.where(OfferRow.status == status)
    if not p.sees_everything:
        me = p.address or ""
        query = query.where((OfferRow.seller == me) | (OfferRow.financier == me))
    return [offer_view(o) for o in session.exec(query.limit(limit)).all()]


def _offer(session: Any, p: Principal, offer_id: int) -> OfferRow:
    offer = session.get(OfferRow, offer_id)
    if offer is None or not offer_visible(p, offer):
        raise not_found("offer", offer_id)
    return offer


@router.get("/offers/{offer_id}", response_model=OfferView)
def get_offer(
    offer_id: OfferId,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> OfferView:
    return offer_view(_offer(session, p, offer_id))


@router.get("/offers/{offer_id}/quote", response_model=OfferQuote)
def quote_offer(
    offer_id: OfferId,
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> dict[str, Any]:
    """The price if the bank accepted now: the contract's own quote, next to the same rule
    computed step by step (they must agree to the fen)."""
    offer = _offer(session, p, offer_id)
    cert = session.get(CertificateRow, certificate_id_of(offer.fragment_id))
    if cert is None:
        raise not_found("certificate", certificate_id_of(offer.fragment_id))
    now = rt.gateway.block_time()
    chain_quote = rt.gateway.ledger.quote(offer_id)
    try:
        mirror = discount_rule.quote(int(offer.amount), offer.rate_bps, now, cert.maturity)
    except ValueError as exc:
        raise Problem(422, "discount_exceeds_amount", "No valid price", str(exc)) from None
    return {
        "offer_id": offer_id,
        **mirror.to_dict(),
        "chain": {
            "days": chain_quote.days,
            "discount_fen": str(chain_quote.discount),
            "payment_fen": str(chain_quote.payment),
        },
        "agrees_with_chain": (chain_quote.discount, chain_quote.payment)
        == (mirror.discount, mirror.payment),
    }


@router.post("/quotes", response_model=QuoteView)
def preview_quote(
    body: QuotePreviewRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> dict[str, Any]:
    """Price a financing before any offer exists (what a holder would get today)."""
    fid = parse_fragment_id(body.fragment_id)
    fragment_or_404(session, p, fid)
    cert = session.get(CertificateRow, certificate_id_of(fid))
    if cert is None:
        raise not_found("certificate", certificate_id_of(fid))
    try:
        result = discount_rule.quote(
            fen(body.amount), body.rate_bps, rt.gateway.block_time(), cert.maturity
        )
    except ValueError as exc:
        raise Problem(422, "discount_exceeds_amount", "No valid price", str(exc)) from None
    return result.to_dict()


@router.post("/offers/{offer_id}/accept", response_model=AcceptOfferAnswer)
def accept_offer(
    offer_id: OfferId,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(FINANCIER)),  # noqa: B008
) -> JSONResponse:
    """financier: accept offer."""
    return run_on_record(
        catalogue.ACCEPT_OFFER, "offer", offer_id, offer_for_command, rt, session, ctx
    )


@router.post("/offers/{offer_id}/withdraw", response_model=WithdrawOfferAnswer)
def withdraw_offer(
    offer_id: OfferId,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """supplier or financier: withdraw offer."""
    return run_on_record(
        catalogue.WITHDRAW_OFFER, "offer", offer_id, offer_for_command, rt, session, ctx
    )
