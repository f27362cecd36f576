"""Fragments: split, transfer, claim, list, provenance, history, the verifier's report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.auth import HOLDERS, Principal, authenticate, require_roles
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import ReadSessionDep, RuntimeDep, command_context
from api.models import ChainEvent, FragmentRow, Organization
from api.quotas import check_split
from api.schemas import (
    ClaimAnswer,
    FragmentDetail,
    FragmentIdStr,
    FragmentView,
    HistoryEvent,
    ProvenanceNode,
    ProvenanceStep,
    ProvenanceView,
    SplitAnswer,
    SplitRequest,
    TransferAnswer,
    TransferRequest,
    VerificationView,
    fen,
    fragment_view,
)
from api.services.access import (
    MAX_DB_INT,
    fragment_for_command,
    fragment_or_404,
    fragment_visibility,
    fragment_visible,
    org_or_422,
    parse_fragment_id,
)
from chain_client.errors import ContractRevert
from chain_client.ledger_types import Fragment
from chain_client.verifier import Verifier

router = APIRouter(prefix="/v1/fragments", tags=["fragments"])
FragmentPath = Annotated[str, Path(pattern=r"^[0-9]{1,19}$", description="decimal fragment id")]


@router.post("/{fragment_id}/split", status_code=201, response_model=SplitAnswer)
def split(
    fragment_id: FragmentPath,
    body: SplitRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """Holder: carve ``amount`` fen off a fragment into a new one held by another member."""
    fid = parse_fragment_id(fragment_id)

    def plan() -> ChainPlan:
        holder, value = fragment_for_command(session, rt.gateway.ledger, p, fid)
        amount = fen(body.amount)
        check_split(rt.settings.min_split_fen, amount, value if holder == p.address else None)
        to = org_or_422(session, body.to_org_id, what="recipient")
        return catalogue.SPLIT.plan(p.address or "", fid, to.address or "", amount)

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.SPLIT,
            f"fragment:{fid}",
            {"fragment_id": str(fid), **body.model_dump()},
            plan,
        )
    )


@router.post("/{fragment_id}/transfer", response_model=TransferAnswer)
def transfer(
    fragment_id: FragmentPath,
    body: TransferRequest,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """Holder: move a whole fragment to another member."""
    fid = parse_fragment_id(fragment_id)

    def plan() -> ChainPlan:
        fragment_for_command(session, rt.gateway.ledger, p, fid)
        to = org_or_422(session, body.to_org_id, what="recipient")
        return catalogue.TRANSFER.plan(p.address or "", fid, to.address or "")

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.TRANSFER,
            f"fragment:{fid}",
            {"fragment_id": str(fid), **body.model_dump()},
            plan,
        )
    )


@router.post("/{fragment_id}/claim", response_model=ClaimAnswer)
def claim(
    fragment_id: FragmentPath,
    rt: RuntimeDep,
    session: ReadSessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    p: Principal = Depends(require_roles(*HOLDERS)),  # noqa: B008
) -> JSONResponse:
    """Holder: collect what the fragment is owed from repayments so far."""
    fid = parse_fragment_id(fragment_id)

    def plan() -> ChainPlan:
        fragment_for_command(session, rt.gateway.ledger, p, fid)
        return catalogue.CLAIM.plan(p.address or "", fid)

    return command_response(
        rt.runner.run_chain(
            ctx, catalogue.CLAIM, f"fragment:{fid}", {"fragment_id": str(fid)}, plan
        )
    )


@router.get("", response_model=list[FragmentView])
def list_fragments(
    session: ReadSessionDep,
    certificate_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
    holder_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[FragmentView]:
    """Fragments the caller may see; a supplier sees its own holdings only."""
    query = select(FragmentRow).order_by(FragmentRow.id)  # type: ignore[arg-type]
    if certificate_id is not None:
        query = query.where(FragmentRow.certificate_id == certificate_id)
    if holder_id is not None:
        org = session.get(Organization, holder_id)
        query = query.where(FragmentRow.holder == (org.address if org else ""))
    if not p.sees_everything and not certificate_id:
        query = query.where(FragmentRow.holder == (p.address or ""))
    rows = [r for r in session.exec(query).all() if fragment_visible(session, p, r)]
    return [fragment_view(r) for r in rows[offset : offset + limit]]


@router.get("/{fragment_id}", response_model=FragmentDetail)
def get_fragment(
    fragment_id: FragmentPath,
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> FragmentDetail:
    fid = parse_fragment_id(fragment_id)
    view = fragment_view(fragment_or_404(session, p, fid))
    try:
        owed = str(rt.gateway.ledger.owed(fid))
    except ContractRevert:
        owed = "0"
    return FragmentDetail(**view.model_dump(), owed=owed)


@router.get("/{fragment_id}/provenance", response_model=ProvenanceView)
def provenance(
    fragment_id: FragmentPath,
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> ProvenanceView:
    """The path to the root certificate (穿透) read from the chain, and the fragment's
    own subtree from the read model.

    Each node's id and parent are shown (the lineage, which the bank's verifier also
    reports); its holder, holder name and value only if the caller may see that fragment
    (``GET /v1/fragments/{id}`` would answer it), else they are null and ``masked`` is
    true. Why the values too: an ancestor's value now is what the upstream supplier still
    holds, and a descendant's what a downstream one received and kept, neither of which
    is the caller's business; the verifier checks that the whole certificate sums to its
    face value without showing any other fragment's value."""
    fid = parse_fragment_id(fragment_id)
    frag = fragment_or_404(session, p, fid)
    path = rt.gateway.ledger.provenance(fid)
    names = {o.address: o.name for o in session.exec(select(Organization)).all()}
    children = session.exec(
        select(FragmentRow).where(FragmentRow.certificate_id == frag.certificate_id)
    ).all()
    visible = fragment_visibility(session, p, frag.certificate_id)
    by_parent: dict[int, list[FragmentRow]] = {}
    for child in children:
        if child.parent_id is not None and child.seq != 0:
            by_parent.setdefault(child.parent_id, []).append(child)

    def step(node: Fragment) -> ProvenanceStep:
        seen = visible(node.id, node.holder)
        return ProvenanceStep(
            id=str(node.id),
            parent_id=str(node.parent_id) if node.parent_id is not None else None,
            holder=node.holder if seen else None,
            holder_name=names.get(node.holder) if seen else None,
            value=str(node.value) if seen else None,
            masked=not seen,
        )

    def subtree(node: FragmentRow, depth: int = 0) -> ProvenanceNode:
        kids = by_parent.get(node.id, []) if depth < 64 else []
        seen = visible(node.id, node.holder)
        return ProvenanceNode(
            id=str(node.id),
            holder=node.holder if seen else None,
            value=node.value if seen else None,
            masked=not seen,
            children=[subtree(k, depth + 1) for k in kids],
        )

    return ProvenanceView(
        fragment_id=str(fid),
        certificate_id=frag.certificate_id,
        path_to_root=[step(f) for f in path],
        subtree=subtree(frag),
    )


@router.get("/{fragment_id}/history", response_model=list[HistoryEvent])
def history(
    fragment_id: FragmentPath,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[dict[str, Any]]:
    """Indexed events of the fragment and of its certificate's issuance and repayment."""
    fid = parse_fragment_id(fragment_id)
    frag = fragment_or_404(session, p, fid)
    events = session.exec(
        select(ChainEvent)
        .where(
            (col(ChainEvent.fragment_id) == fid)
            | (
                (col(ChainEvent.certificate_id) == frag.certificate_id)
                & col(ChainEvent.event).in_(
                    (
                        "CertificateIssued",
                        "CertificateAccepted",
                        "RepaymentReceived",
                        "CertificateSettled",
                        "CertificateOverdue",
                        "CertificateDefaulted",
                    )
                )
            )
        )
        .order_by(ChainEvent.block_number, ChainEvent.log_index)  # type: ignore[arg-type]
    ).all()
    return [
        {
            "event": e.event,
            "block_number": e.block_number,
            "tx_hash": e.tx_hash,
            "log_index": e.log_index,
            "args": json.loads(e.args),
        }
        for e in events
    ]


@router.get("/{fragment_id}/verification", response_model=VerificationView)
def verification(
    fragment_id: FragmentIdStr,
    rt: RuntimeDep,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> VerificationView:
    """The verifier's report, computed from the chain alone (not from this database).

    Its ``node_freshness`` check judges the node's head by the wall clock (the service and
    its node belong to one organization, so there is no other node to compare with): a
    node that stopped syncing fails the report instead of answering from an old state."""
    fid = parse_fragment_id(fragment_id)
    fragment_or_404(session, p, fid)
    report = Verifier(rt.gateway.w3, rt.gateway.manifest).verify(fid)
    return VerificationView.model_validate(report.to_dict())
