"""Standing bids and financing without people: a funder posts, changes and cancels bids; a
holder sees every bid's price for its fragment, best first, with the reasons of the rest,
and sells to the best (or a chosen) bid in one call and one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from api.auth import CORE_ENTERPRISE, FINANCIER, HOLDERS, Principal, authenticate, require_roles
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import ReadSessionDep, RuntimeDep, command_context
from api.models import CertificateRow, ChainEvent, FragmentRow, Organization
from api.problems import Problem
from api.quotas import check_split
from api.routes.fragments import FragmentPath
from api.schemas import (
    BidBudgetAnswer,
    BidBudgetRequest,
    BidQuoteView,
    BidRequest,
    BidTermsAnswer,
    BidTermsRequest,
    BidView,
    CancelBidAnswer,
    DeclinedBidView,
    FinanceAnswer,
    FinanceRequest,
    FragmentQuotes,
    Portfolio,
    PortfolioExposure,
    PortfolioHolding,
    PostBidAnswer,
    RateBandView,
    fen,
)
from api.services import bids as bid_service
from api.services.access import (
    MAX_DB_INT,
    fragment_for_command,
    not_found,
    org_or_422,
    parse_fragment_id,
)
from api.timeutil import china_date
from chain_client.bids import Bid, BidTerms, RateBand
from chain_client.discount import percent_text
from chain_client.errors import ContractRevert

router = APIRouter(prefix="/v1", tags=["bids"])
BidId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
FUNDERS = (FINANCIER, CORE_ENTERPRISE)


def _terms(body: BidTermsRequest) -> BidTerms:
    return BidTerms(
        bands=tuple(RateBand(b.up_to_days, b.rate_bps) for b in body.bands),
        min_days=body.min_days,
        min_amount=fen(body.min_amount),
        max_amount=fen(body.max_amount),
        per_seller_limit=fen(body.per_seller_limit),
        expires_at=body.expires_at,
    )


def _terms_tuple(body: BidTermsRequest) -> list[int]:
    """The terms as the journal stores them (their ABI tuple), checked like the contract
    checks them, for a clear 422 before anything is signed (or allowed)."""
    for amount, what in (
        (body.min_amount, "min_amount"),
        (body.max_amount, "max_amount"),
        (body.per_seller_limit, "per_seller_limit"),
    ):
        _too_large(fen(amount), what)
    try:
        return list(_terms(body).as_tuple())
    except ValueError as exc:
        raise Problem(
            422, "invalid_rate_bands", "The tenor bands are not valid", str(exc)
        ) from None


def _too_large(amount: int, what: str) -> None:
    if amount >= 2**96:
        raise Problem(
            422, "invalid_amount", "The amount is too large", f"{what} must be below 2**96 fen."
        )


@router.post("/bids", status_code=201, response_model=PostBidAnswer)
def post_bid(
    body: BidRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*FUNDERS)),  # noqa: B008
) -> JSONResponse:
    """Financier (or core enterprise, for its own certificates: dynamic discounting): post
    a standing bid. The budget is escrowed in the ledger's bid book now (the API approves
    the book for it first); any holder of a covered certificate may then sell to it."""

    def plan() -> ChainPlan:
        terms = _terms_tuple(body)
        _too_large(fen(body.budget), "The budget")
        ids = body.issuer_ids or ([p.org_id] if p.role == CORE_ENTERPRISE and p.org_id else [])
        if not ids:
            raise Problem(
                422,
                "missing_issuers",
                "Name the core enterprises whose certificates the bid buys",
                "issuer_ids is required for a financier's bid.",
            )
        issuers = [org_or_422(session, i, what="issuer").address or "" for i in ids]
        return catalogue.POST_BID.plan(p.address or "", terms, issuers, fen(body.budget))

    return command_response(
        rt.runner.run_chain(ctx, catalogue.POST_BID, f"bids:{p.org_id}", body.model_dump(), plan)
    )


@router.get("/bids", response_model=list[BidView])
def list_bids(
    rt: RuntimeDep,
    session: ReadSessionDep,
    status: Annotated[str | None, Query(pattern="^(open|cancelled)$")] = None,
    mine: bool = False,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[BidView]:
    """Every standing bid, read from the chain (bids are offers to every holder: each
    member sees them all), with what each bought so far. ``mine``: the caller's own."""
    rt.indexer.cover_head("bids")
    bids = rt.gateway.ledger.bids()
    if mine:
        bids = [b for b in bids if b.funder == p.address]
    if status:
        bids = [b for b in bids if (b.is_open if status == "open" else not b.is_open)]
    return _views(rt, session, bids)


@router.get("/bids/{bid_id}", response_model=BidView)
def get_bid(
    bid_id: BidId,
    rt: RuntimeDep,
    session: ReadSessionDep,
    _: Principal = Depends(authenticate),  # noqa: B008
) -> BidView:
    rt.indexer.cover_head("bids")
    return _views(rt, session, [_bid_or_404(rt, bid_id)])[0]


def _bid_or_404(rt: Any, bid_id: int) -> Bid:
    try:
        return rt.gateway.ledger.bid(bid_id)
    except ContractRevert as exc:
        if exc.error_name == "UnknownBid":
            raise not_found("bid", bid_id) from None
        raise


def _own_open_bid(rt: Any, p: Principal, bid_id: int) -> Bid:
    """The caller's open bid: 404 if there is none, 403 ``not_bid_funder`` if another
    funder's, 409 ``bid_not_open`` if cancelled (the ledger's reasons, given before
    anything is signed)."""
    bid = _bid_or_404(rt, bid_id)
    if bid.funder != p.address:
        raise Problem(
            403,
            "not_bid_funder",
            "Only the bid's funder may do this",
            f"Bid {bid_id} is another funder's.",
        )
    if not bid.is_open:
        raise Problem(409, "bid_not_open", "The bid was cancelled", f"Bid {bid_id} is cancelled.")
    return bid


@router.put("/bids/{bid_id}/terms", response_model=BidTermsAnswer)
def change_bid_terms(
    bid_id: BidId,
    body: BidTermsRequest,
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*FUNDERS)),  # noqa: B008
) -> JSONResponse:
    """Funder: replace an open bid's terms (every sale after this transaction uses them)."""

    def plan() -> ChainPlan:
        terms = _terms_tuple(body)
        _own_open_bid(rt, p, bid_id)
        return catalogue.CHANGE_BID_TERMS.plan(p.address or "", bid_id, terms)

    params = {"bid_id": bid_id, **body.model_dump()}
    return command_response(
        rt.runner.run_chain(ctx, catalogue.CHANGE_BID_TERMS, f"bid:{bid_id}", params, plan)
    )


@router.put("/bids/{bid_id}/budget", response_model=BidBudgetAnswer)
def change_bid_budget(
    bid_id: BidId,
    body: BidBudgetRequest,
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*FUNDERS)),  # noqa: B008
) -> JSONResponse:
    """Funder: set the escrow an open bid holds: a top-up is pulled from the funder, a
    reduction paid back to it."""

    def plan() -> ChainPlan:
        remaining = fen(body.remaining)
        _too_large(remaining, "The budget")
        bid = _own_open_bid(rt, p, bid_id)
        # the escrow as read now: a sale landing first refuses the change (409
        # bid_budget_moved) rather than turn a take-back into a pull
        return catalogue.CHANGE_BID_BUDGET.plan(p.address or "", bid_id, bid.remaining, remaining)

    params = {"bid_id": bid_id, **body.model_dump()}
    return command_response(
        rt.runner.run_chain(ctx, catalogue.CHANGE_BID_BUDGET, f"bid:{bid_id}", params, plan)
    )


@router.post("/bids/{bid_id}/cancel", response_model=CancelBidAnswer)
def cancel_bid(
    bid_id: BidId,
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*FUNDERS)),  # noqa: B008
) -> JSONResponse:
    """Funder: close a bid for good; its remaining escrow is paid back."""

    def plan() -> ChainPlan:
        _own_open_bid(rt, p, bid_id)
        return catalogue.CANCEL_BID.plan(p.address or "", bid_id)

    return command_response(
        rt.runner.run_chain(ctx, catalogue.CANCEL_BID, f"bid:{bid_id}", {"bid_id": bid_id}, plan)
    )


@router.get("/fragments/{fragment_id}/quotes", response_model=FragmentQuotes)
def fragment_quotes(
    fragment_id: FragmentPath,
    rt: RuntimeDep,
    session: ReadSessionDep,
    amount: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,37}$")] = None,
    max_rate_bps: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> FragmentQuotes:
    """Holder: what every open bid would pay now for ``amount`` fen of the fragment (all
    of it by default), best payment first, each with its all-in yearly cost; and why each
    other bid would not buy."""
    fid = parse_fragment_id(fragment_id)
    value = _held(session, rt, p, fid)
    wanted = fen(amount) if amount is not None else value
    quoted, declined = bid_service.quote_all(
        rt.gateway.ledger, fid, wanted, p.address or "", max_rate_bps=max_rate_bps
    )
    names = _funders(session, [q.bid for q in quoted] + [d.bid for d in declined])
    return FragmentQuotes(
        fragment_id=str(fid),
        amount=str(wanted),
        quotes=[
            BidQuoteView(
                bid_id=q.bid.id,
                funder_id=names.get(q.bid.funder, (None, None))[0],
                funder_name=names.get(q.bid.funder, (None, None))[1],
                rate_bps=q.rate_bps,
                days=q.quote.days,
                discount=str(q.quote.discount),
                payment=str(q.quote.payment),
                annual_cost_bps=q.annual_cost_bps,
                annual_cost_percent=percent_text(q.annual_cost_bps),
            )
            for q in quoted
        ],
        declined=[_declined_view(d, names) for d in declined],
    )


@router.post("/fragments/{fragment_id}/finance", response_model=FinanceAnswer)
def finance(
    fragment_id: FragmentPath,
    body: FinanceRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """Holder: sell ``amount`` fen of the fragment to the best standing bid (or the one
    named) in one transaction: the fragment to the funder, the cash to you or your payee,
    at least the price quoted now (``minPayment``: a bid changed in between refuses the
    sale rather than pay less). None fits: 409 ``no_bid_fits`` with each bid's reason."""
    fid = parse_fragment_id(fragment_id)

    def plan() -> ChainPlan:
        value = _held(session, rt, p, fid)
        amount = fen(body.amount)
        if amount > value:
            raise Problem(
                422,
                "insufficient_value",
                "The fragment does not hold that much value",
                f"Fragment {fid} holds {value} fen; {amount} fen asked.",
            )
        if amount < value:  # a part of the fragment is sold as a split (the whole is not)
            check_split(rt.settings.min_split_fen, amount, value)
        payee = org_or_422(session, body.payee_id, what="payee").address if body.payee_id else None
        only = body.bid if isinstance(body.bid, int) else None
        if only is not None and not _bid_or_404(rt, only).is_open:
            raise Problem(409, "bid_not_open", "The bid was cancelled", f"Bid {only} is cancelled.")
        quoted, declined = bid_service.quote_all(
            rt.gateway.ledger,
            fid,
            amount,
            p.address or "",
            max_rate_bps=body.max_rate_bps,
            only=only,
        )
        if not quoted:
            if only is not None and not declined:
                raise not_found("bid", only)
            names = _funders(session, [d.bid for d in declined])
            raise Problem(
                409,
                "no_bid_fits",
                "No standing bid buys this now",
                f"None of {len(declined)} open bids would buy {amount} fen of fragment {fid} "
                "now; each one's reason is in `declined`.",
                declined=[_declined_view(d, names).model_dump() for d in declined],
            )
        best = quoted[0]
        return catalogue.SELL_TO_BID.plan(
            p.address or "", best.bid.id, fid, amount, best.quote.payment, payee
        )

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.SELL_TO_BID,
            f"fragment:{fid}",
            {"fragment_id": str(fid), **body.model_dump()},
            plan,
        )
    )


@router.get("/portfolio", response_model=Portfolio)
def portfolio(
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(require_roles(*FUNDERS)),  # noqa: B008
) -> Portfolio:
    """Funder: the fragments it holds by issuer and maturity day (China time), and its
    exposure per core enterprise next to the credit line it extends to each."""
    rt.indexer.cover_head("bids")
    held = session.exec(
        select(FragmentRow, CertificateRow)
        .where(FragmentRow.holder == (p.address or ""))
        .where(col(FragmentRow.certificate_id) == col(CertificateRow.id))
    ).all()
    orgs = {
        str(o.address): o
        for o in session.exec(select(Organization).where(col(Organization.address).is_not(None)))
    }
    groups: dict[tuple[str, str], list[int]] = {}
    unpaid: dict[str, int] = {}
    for fragment, cert in held:
        day = china_date(cert.maturity)
        counts = groups.setdefault((cert.issuer, day), [0, 0, 0])
        counts[0] += 1
        counts[1] += int(fragment.value)
        counts[2] += int(fragment.paid)
        # owed by the core enterprise still (a settled certificate's payout is in the ledger)
        if cert.status in ("active", "overdue", "defaulted"):
            unpaid[cert.issuer] = (
                unpaid.get(cert.issuer, 0) + int(fragment.value) - int(fragment.paid)
            )
    holdings = [
        PortfolioHolding(
            issuer_id=orgs[issuer].id if issuer in orgs else None,
            issuer_name=orgs[issuer].name if issuer in orgs else None,
            maturity_date=day,
            fragments=n,
            face_value=str(value),
            paid=str(paid),
        )
        for (issuer, day), (n, value, paid) in sorted(
            groups.items(), key=lambda g: (g[0][1], g[0][0])
        )
    ]
    cores = [o for o in orgs.values() if o.role == CORE_ENTERPRISE]
    exposure = []
    for core in sorted(cores, key=lambda o: o.id or 0):
        address = str(core.address)
        line = rt.gateway.ledger.credit_line(p.address or "", address)
        if not (line.limit or line.used or unpaid.get(address)):
            continue
        exposure.append(
            PortfolioExposure(
                core_enterprise_id=core.id,
                name=core.name,
                held_unpaid=str(unpaid.get(address, 0)),
                credit_limit=str(line.limit),
                credit_used=str(line.used),
                credit_available=str(line.available),
            )
        )
    return Portfolio(holdings=holdings, exposure=exposure)


# -- helpers --------------------------------------------------------------------------------


def _held(session: Session, rt: Any, p: Principal, fid: int) -> int:
    """The value of a fragment the caller holds: 404 if it may not see it, 403
    ``not_holder`` if it sees it but another member holds it."""
    holder, value = fragment_for_command(session, rt.gateway.ledger, p, fid)
    if holder != p.address:
        raise Problem(
            403,
            "not_holder",
            "Only the holder of the fragment may do this",
            f"Fragment {fid} is another member's.",
        )
    return value


def _funders(session: Session, bids: Sequence[Bid]) -> dict[str, tuple[int | None, str | None]]:
    """(organization id, name) by address, for the funders of ``bids``."""
    addresses = {b.funder for b in bids}
    if not addresses:
        return {}
    orgs = session.exec(select(Organization).where(col(Organization.address).in_(addresses))).all()
    return {str(o.address): (o.id, o.name) for o in orgs}


def _declined_view(
    d: bid_service.Declined, names: dict[str, tuple[int | None, str | None]]
) -> DeclinedBidView:
    org_id, name = names.get(d.bid.funder, (None, None))
    return DeclinedBidView(
        bid_id=d.bid.id, funder_id=org_id, funder_name=name, reason=d.reason, detail=d.detail
    )


def _views(rt: Any, session: Session, bids: Sequence[Bid]) -> list[BidView]:
    """Bids as views: their funders' names, the issuers they cover (of the core
    enterprises the API knows), and what each bought, from the indexed SoldToBid events."""
    names = _funders(session, bids)
    cores = session.exec(
        select(Organization).where(
            Organization.role == CORE_ENTERPRISE, col(Organization.address).is_not(None)
        )
    ).all()
    sold: dict[int, tuple[int, int, int]] = {}
    for row in session.exec(select(ChainEvent).where(ChainEvent.event == "SoldToBid")).all():
        args = json.loads(row.args)
        bought, paid, count = sold.get(int(args["bidId"]), (0, 0, 0))
        sold[int(args["bidId"])] = (
            bought + int(args["amount"]),
            paid + int(args["payment"]),
            count + 1,
        )
    now = rt.gateway.block_time()
    views = []
    for bid in bids:
        covered = [
            c.id
            for c in cores
            if c.id is not None and rt.gateway.ledger.bid_covers(bid.id, c.address or "")
        ]
        bought, paid, count = sold.get(bid.id, (0, 0, 0))
        org_id, name = names.get(bid.funder, (None, None))
        views.append(
            BidView(
                id=bid.id,
                funder=bid.funder,
                funder_id=org_id,
                funder_name=name,
                status="open" if bid.is_open else "cancelled",
                expired=now > bid.terms.expires_at,
                remaining=str(bid.remaining),
                bought=str(bought),
                paid=str(paid),
                sales=count,
                bands=[
                    RateBandView(up_to_days=b.up_to_days, rate_bps=b.rate_bps)
                    for b in bid.terms.bands
                ],
                min_days=bid.terms.min_days,
                min_amount=str(bid.terms.min_amount),
                max_amount=str(bid.terms.max_amount),
                per_seller_limit=str(bid.terms.per_seller_limit),
                expires_at=bid.terms.expires_at,
                issuer_ids=covered,
            )
        )
    return views
