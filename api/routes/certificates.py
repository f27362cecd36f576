"""Certificates: issue against an uploaded invoice, accept, reject, revoke, repay, list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import CORE_ENTERPRISE, SUPPLIER, Principal, authenticate, require_roles
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response, run_on_record
from api.deps import RuntimeDep, SessionDep, command_context
from api.models import CertificateRow, FragmentRow, OfferRow
from api.problems import Problem
from api.schemas import (
    AcceptAnswer,
    CertificateAnswer,
    CertificateDetail,
    CertificateView,
    FragmentHolding,
    IssueAnswer,
    IssueRequest,
    RepayAnswer,
    RepayRequest,
    certificate_view,
    fen,
)
from api.services.access import (
    MAX_DB_INT,
    certificate_for_command,
    certificate_or_404,
    certificate_visible,
)
from api.services.issuance import issuance_plan
from chain_client.ledger_types import fragment_id_bounds

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])
CertId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
Status = Literal["issued", "active", "rejected", "revoked", "settled", "overdue", "defaulted"]


@router.post("", status_code=201, response_model=IssueAnswer)
def issue(
    body: IssueRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(CORE_ENTERPRISE)),  # noqa: B008
) -> JSONResponse:
    """Core enterprise: issue a certificate to a tier-1 supplier against an invoice it
    uploaded; the invoice identity becomes a keyed hash, the document's keccak256 is
    anchored on chain. The invoice's seller is always the beneficiary's registered code (a
    differing ``seller_tax_id`` is 422 ``seller_mismatch``); the number (with
    ``invoice_code`` for a legacy invoice) is read by the rule in docs/invoice-identity.md,
    so one invoice typed two ways is 409 ``duplicate_invoice``."""

    def plan() -> ChainPlan:
        return issuance_plan(session, rt, p, body)

    # the document is linked to its certificate when the command succeeds, in the
    # transaction that stores the answer (catalogue.link_document)
    return command_response(
        rt.runner.run_chain(ctx, catalogue.ISSUE, "certificates", body.model_dump(), plan)
    )


@router.post("/{certificate_id}/accept", response_model=AcceptAnswer)
def accept_certificate(
    certificate_id: CertId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(SUPPLIER)),  # noqa: B008
) -> JSONResponse:
    """supplier: accept a certificate."""
    return run_on_record(
        catalogue.ACCEPT, "certificate", certificate_id, certificate_for_command, rt, session, ctx
    )


@router.post("/{certificate_id}/reject", response_model=CertificateAnswer)
def reject_certificate(
    certificate_id: CertId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(SUPPLIER)),  # noqa: B008
) -> JSONResponse:
    """supplier: reject a certificate."""
    return run_on_record(
        catalogue.REJECT, "certificate", certificate_id, certificate_for_command, rt, session, ctx
    )


@router.post("/{certificate_id}/revoke", response_model=CertificateAnswer)
def revoke_certificate(
    certificate_id: CertId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(CORE_ENTERPRISE)),  # noqa: B008
) -> JSONResponse:
    """core_enterprise: revoke a certificate."""
    return run_on_record(
        catalogue.REVOKE, "certificate", certificate_id, certificate_for_command, rt, session, ctx
    )


@router.post("/{certificate_id}/repay", response_model=RepayAnswer)
def repay(
    certificate_id: CertId,
    body: RepayRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(CORE_ENTERPRISE)),  # noqa: B008
) -> JSONResponse:
    """Issuer: pay (part of) a matured certificate; the maturity job pays the holders.

    Before maturity only all that is outstanding, and only with ``early: true`` (early
    repayment settles the certificate at once: docs/design.md). Why ask for it: an
    issuer's script or treasurer that repays "what is outstanding" a day too soon would
    otherwise pay early without meaning to; without it the answer is 409 ``not_matured``
    and nothing is sent."""

    def plan() -> ChainPlan:
        certificate_for_command(session, rt.gateway.ledger, p, certificate_id)
        if not body.early:
            maturity = rt.gateway.ledger.certificate(certificate_id).maturity
            if rt.gateway.block_time() < maturity:
                raise Problem(
                    409,
                    "not_matured",
                    "The certificate has not matured yet",
                    f"Certificate {certificate_id} matures at {maturity} (block time). To "
                    "repay all that is outstanding now, send early: true; before maturity "
                    "nothing less is taken.",
                )
        return catalogue.REPAY.plan(p.address or "", certificate_id, fen(body.amount))

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.REPAY,
            f"certificate:{certificate_id}",
            {"certificate_id": certificate_id, **body.model_dump()},
            plan,
        )
    )


@router.get("", response_model=list[CertificateView])
def list_certificates(
    session: SessionDep,
    status: Status | None = None,
    issuer_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
    maturing_before: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[CertificateView]:
    """Certificates the caller may see (issuer, beneficiary, holders, banks involved)."""
    query = select(CertificateRow).order_by(CertificateRow.id)  # type: ignore[arg-type]
    if status:
        query = query.where(CertificateRow.status == status)
    if issuer_id is not None:
        from api.models import Organization

        org = session.get(Organization, issuer_id)
        query = query.where(CertificateRow.issuer == (org.address if org else ""))
    if maturing_before is not None:
        query = query.where(CertificateRow.maturity < maturing_before)
    rows = [r for r in session.exec(query).all() if certificate_visible(session, p, r)]
    return [certificate_view(r) for r in rows[offset : offset + limit]]


@router.get(
    "/{certificate_id}", response_model=CertificateDetail, response_model_exclude_unset=True
)
def get_certificate(
    certificate_id: CertId,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> CertificateDetail:
    cert = certificate_or_404(session, p, certificate_id)
    view = CertificateDetail(**certificate_view(cert).model_dump())
    if p.sees_everything or p.address in (cert.issuer, cert.credit_provider):
        fragments = session.exec(
            select(FragmentRow).where(FragmentRow.certificate_id == cert.id)
        ).all()
        view.fragments = [
            FragmentHolding(id=str(f.id), holder=f.holder, value=f.value, paid=f.paid)
            for f in fragments
        ]
        first, end = fragment_id_bounds(cert.id)
        view.offers = [
            o.id
            for o in session.exec(
                select(OfferRow)
                .where(col(OfferRow.fragment_id) >= first)
                .where(col(OfferRow.fragment_id) < end)
            ).all()
        ]
    return view
