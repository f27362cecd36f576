"""Organizations, API keys, membership administration, settlement-token funding."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from sqlmodel import Session, select

from api.audit import record_done
from api.auth import (
    ADMIN,
    CORE_ENTERPRISE,
    FINANCIER,
    OPERATOR,
    OVERSEERS,
    Principal,
    Role,
    authenticate,
    issue_key,
    parse_duties,
    require_duty,
    require_roles,
)
from api.commands import catalogue
from api.commands.catalogue import ChainPlan
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import RuntimeDep, SessionDep, command_context
from api.models import ApiKey, Organization
from api.problems import Problem
from api.runtime import Runtime
from api.schemas import (
    AddressChallenge,
    AddressChallengeRequest,
    ApiKeyRequest,
    ApiKeyView,
    BalanceView,
    KeyRotationAnswer,
    KeyRotationRequest,
    MemberAnswer,
    MintAnswer,
    MintRequest,
    NewApiKey,
    OnboardRequest,
    OrganizationView,
    RevokedApiKey,
    SettlementAllowanceAnswer,
    SettlementAllowanceRequest,
    fen,
    org_view,
)
from api.services import custody, rotation
from api.services import organizations as org_service
from api.services.access import MAX_DB_INT, not_found, self_or_operator
from api.timeutil import utcnow
from chain_client.freshness import display_url

router = APIRouter(prefix="/v1", tags=["organizations"])
OrgId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
KeyId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


def _org(session: Any, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise not_found("organization", org_id)
    return org


def recorded(request: dict[str, Any]) -> dict[str, Any]:
    """A request as the journal and the audit log keep it: a signer URL may carry
    credentials (a user part, a token in its path or query), so only its
    ``scheme://host:port`` and a digest of the whole (two different URLs are two different
    requests to the Idempotency-Key) are kept."""
    url = request.get("signer_url")
    if not url:
        return request
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return {**request, "signer_url": f"{display_url(url)} (sha256 {digest})"}


@router.get("/me", response_model=OrganizationView)
def me(session: SessionDep, p: Principal = Depends(authenticate)) -> OrganizationView:  # noqa: B008
    """The caller's organization."""
    return org_view(_org(session, p.org_id))


@router.post("/organizations", status_code=201, response_model=OrganizationView)
def onboard(
    body: OnboardRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: onboard an organization (registers it on chain; creates its signing key,
    or with ``custody`` ``self`` takes the address it proved it controls: see
    ``POST /v1/organizations/address-challenge``)."""
    # a remote signer is asked first (it may be down: 503, nothing recorded); a signed
    # challenge is checked inside the command, so its key replays the answer even after
    # the challenge expired
    remote = (
        _proven_address(body, body.custody, body.role, body.uscc, rt, body.signer_url)
        if body.custody == "remote"
        else None
    )

    def work() -> tuple[int, dict[str, Any]]:
        address = remote or (
            _proven_address(body, body.custody, body.role, body.uscc, rt, body.signer_url)
            if body.custody == "self"
            else None
        )
        org = org_service.onboard(
            session,
            rt.gateway,
            body.name,
            body.uscc,
            body.role,
            custody=body.custody,
            address=address,
            signer_url=body.signer_url,
        )
        return 201, org_view(org).model_dump()

    org_service.validated_uscc(body.uscc)
    return command_response(
        rt.runner.run_local(ctx, "onboard", "organizations", recorded(body.model_dump()), work)
    )


def _proven_address(
    body: OnboardRequest | KeyRotationRequest,
    kind: str,
    role: str,
    uscc: str,
    rt: Runtime,
    signer_url: str | None,
) -> str:
    """The address an organization that keeps its own key signs with, proven (422
    otherwise): ``self`` by its signature of a challenge, ``remote`` by its signer service
    signing a throwaway transaction for it (at onboarding, and for a key rotation's new
    address)."""
    if role == "auditor":
        raise Problem(
            422,
            "custody_unsupported",
            "An auditor signs nothing",
            "Onboard it with custody 'platform'.",
        )
    code = org_service.validated_uscc(uscc)
    if kind == "remote":
        if not (body.address and signer_url):
            raise custody.invalid_proof("custody 'remote' needs address and signer_url.")
        return custody.verify_remote(signer_url, body.address, rt.gateway.manifest.chain_id)
    if not (body.address and body.challenge and body.signature):
        raise custody.invalid_proof(
            "custody 'self' needs address, challenge (POST /v1/organizations/address-challenge) "
            "and the address's signature of it."
        )
    manifest = rt.gateway.manifest
    return custody.verify_proof(
        rt.settings,
        code,
        body.address,
        manifest.chain_id,
        manifest.ledger_address,
        body.challenge,
        body.signature,
    )


@router.post("/organizations/address-challenge", response_model=AddressChallenge)
def address_challenge(
    body: AddressChallengeRequest,
    rt: RuntimeDep,
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> AddressChallenge:
    """Operator: the text an organization that keeps its own key signs (EIP-191
    ``personal_sign``) to prove it controls ``address``; onboard it with the text and the
    signature within 15 minutes. Nothing is stored."""
    code = org_service.validated_uscc(body.uscc)
    manifest = rt.gateway.manifest
    text, expires = custody.challenge(
        rt.settings, code, body.address, manifest.chain_id, manifest.ledger_address
    )
    return AddressChallenge(
        challenge=text, address=to_checksum_address(body.address), expires_at=expires
    )


@router.get("/organizations", response_model=list[OrganizationView])
def list_organizations(
    session: SessionDep,
    role: Role | None = None,
    _: Principal = Depends(authenticate),  # noqa: B008
) -> list[OrganizationView]:
    """The member directory (every member may look up counterparties)."""
    query = select(Organization).order_by(Organization.id)  # type: ignore[arg-type]
    if role is not None:
        query = query.where(Organization.role == role)
    return [org_view(o) for o in session.exec(query).all()]


# ``:int``: the id is digits, so POST /v1/organizations/address-challenge is not also a
# GET of an organization named "address-challenge" (it answered 422, not 405 with Allow)
@router.get("/organizations/{org_id:int}", response_model=OrganizationView)
def get_organization(
    org_id: OrgId,
    session: SessionDep,
    _: Principal = Depends(authenticate),  # noqa: B008
) -> OrganizationView:
    return org_view(_org(session, org_id))


@router.post("/organizations/{org_id}/api-keys", status_code=201, response_model=NewApiKey)
def create_api_key(
    org_id: OrgId,
    body: ApiKeyRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """A new API key for the organization, shown once (operator, or the organization)."""
    self_or_operator(ctx.principal, org_id)
    require_duty(ADMIN, ctx.principal)
    _org(session, org_id)

    def work() -> tuple[int, dict[str, Any]]:
        row, token = issue_key(
            session, org_id, body.label, body.duties, created_by=ctx.principal.api_key_id
        )
        session.commit()
        return 201, {
            "id": row.id,
            "org_id": org_id,
            "label": row.label,
            "prefix": row.prefix,
            "duties": sorted(parse_duties(row.duties)),
            "api_key": token,
            "note": "Store this key now: it is not shown again.",
        }

    # The token itself is never stored: only its hash, and a replay of the same
    # Idempotency-Key answers with the key's id and prefix but the token withheld.
    return command_response(
        rt.runner.run_local(
            ctx,
            "create_api_key",
            f"organization:{org_id}",
            body.model_dump(),
            work,
            redact=("api_key",),
            duty=ADMIN,
        )
    )


@router.get("/organizations/{org_id}/api-keys", response_model=list[ApiKeyView])
def list_api_keys(
    org_id: OrgId,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[ApiKeyView]:
    self_or_operator(p, org_id)
    rows = session.exec(select(ApiKey).where(ApiKey.org_id == org_id)).all()
    return [
        ApiKeyView(
            id=k.id,
            label=k.label,
            prefix=k.prefix,
            duties=sorted(parse_duties(k.duties)),  # type: ignore[arg-type]
            created_at=k.created_at.isoformat(),
            revoked_at=k.revoked_at.isoformat() if k.revoked_at else None,
        )
        for k in rows
        if k.id is not None
    ]


@router.delete("/organizations/{org_id}/api-keys/{key_id}", response_model=RevokedApiKey)
def revoke_api_key(
    org_id: OrgId,
    key_id: KeyId,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> RevokedApiKey:
    self_or_operator(p, org_id)
    require_duty(ADMIN, p)
    key = session.get(ApiKey, key_id)
    if key is None or key.org_id != org_id:
        raise not_found("api_key", key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        record_done(session, p, "revoke_api_key", f"api_key:{key_id}")
        session.commit()
    return RevokedApiKey(id=key_id, revoked_at=key.revoked_at.isoformat())


def _run_on_member(
    command: catalogue.ChainCommand[[str]],
    org_id: int,
    rt: Runtime,
    session: Session,
    ctx: CommandContext,
) -> JSONResponse:
    """A command on a member's ledger account, sent as the operator (suspend, reinstate:
    the organization's status in the API follows in the command's own transaction,
    catalogue.member_status)."""
    org = _org(session, org_id)

    def plan() -> ChainPlan:
        if org.address is None or org.role in OVERSEERS:
            raise Problem(
                422,
                "unknown_member",
                "Not a ledger member",
                f"Organization {org_id} has no account on the ledger.",
            )
        return command.plan(rt.gateway.operator.address, org.address)

    target, params = f"organization:{org_id}", {"org_id": org_id}
    return command_response(rt.runner.run_chain(ctx, command, target, params, plan))


@router.post("/organizations/{org_id}/suspend", response_model=MemberAnswer)
def suspend_member(
    org_id: OrgId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: suspend a member (on chain and in the API)."""
    return _run_on_member(catalogue.SUSPEND, org_id, rt, session, ctx)


@router.post("/organizations/{org_id}/reinstate", response_model=MemberAnswer)
def reinstate_member(
    org_id: OrgId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: reinstate a member (on chain and in the API)."""
    return _run_on_member(catalogue.REINSTATE, org_id, rt, session, ctx)


@router.post("/organizations/{org_id}/key-rotation", response_model=KeyRotationAnswer)
def rotate_key(
    org_id: OrgId,
    body: KeyRotationRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: key rotation and recovery. The organization (its key lost or compromised)
    moves to a new address: ``rotateMember`` on chain, then its certificates, credit lines,
    open offers and fragments move there in batches, its row takes the new address (and
    key or signer URL), and the old address can do nothing any more. By its custody:
    ``platform``, the API makes the new key (the old one stays in the key store, unused);
    ``self``, the new ``address`` proven with ``challenge`` and ``signature`` as at
    onboarding; ``remote``, the new ``address`` (and ``signer_url``, else the current
    one), proven by its signer. Each step checks the chain first: a rotation that died
    half way is finished by sending it again with the same Idempotency-Key."""
    org = _org(session, org_id)
    if org.address is None or org.role in OVERSEERS or org.uscc is None:
        raise Problem(
            422,
            "unknown_member",
            "Not a ledger member",
            f"Organization {org_id} has no account on the ledger to rotate.",
        )
    uscc, address = org.uscc, org.address
    signer_url = (body.signer_url or org.signer_url) if org.custody == "remote" else None
    # a remote signer is asked first, as at onboarding (it may be down: 503, nothing
    # recorded); a signed challenge is checked inside the command, before the rotation only
    remote = (
        _proven_address(body, "remote", org.role, uscc, rt, signer_url)
        if org.custody == "remote"
        else None
    )

    def work() -> tuple[int, dict[str, Any]]:
        gateway = rt.gateway
        key_id: str | None = None
        prove: Callable[[], object] | None = None
        if org.custody == "platform":
            retired = gateway.ledger.successor_of(address) is not None
            if retired:  # rotated by an earlier command that failed after: its key
                new = gateway.ledger.current_account(address)
                key_id = next(
                    (
                        i.id
                        for i in gateway.keystore.list()
                        if to_checksum_address(i.address) == new
                    ),
                    None,
                )
                if key_id is None:
                    raise Problem(
                        409,
                        "rotation_conflict",
                        "The organization was rotated to a key the service does not hold",
                        f"{address} was rotated to {new}, which is not in the key store.",
                    )
            else:
                label = rotation.key_label(uscc, org_id, ctx.idempotency_key)
                key_id, new = rotation.platform_key(gateway, label)
        elif org.custody == "self":
            if not body.address:
                raise custody.invalid_proof("custody 'self' needs the new address.")
            new = to_checksum_address(body.address)

            def proof() -> str:
                return _proven_address(body, "self", org.role, uscc, rt, None)

            prove = proof
        else:
            assert remote is not None
            new = remote
        run = rotation.Rotation(
            rt.engine,
            gateway,
            rt.indexer,
            org,
            new,
            key_id=key_id,
            signer_url=signer_url,
            timeout=rt.runner.completion.read_model_timeout,
        )
        # a ledger refusal half way is stored as the answer; a new command continues
        return 200, run.run(session, prove)

    return command_response(
        rt.runner.run_local(
            ctx,
            "rotate_key",
            f"organization:{org_id}",
            {"org_id": org_id, **recorded(body.model_dump())},
            work,
            rerun_on_failure=True,
        )
    )


@router.post("/organizations/{org_id}/settlement-funds", response_model=MintAnswer)
def mint_settlement(
    org_id: OrgId,
    body: MintRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(OPERATOR)),  # noqa: B008
) -> JSONResponse:
    """Operator: tokenize a deposit (mint settlement tokens, in fen) to a member."""
    org = _org(session, org_id)

    def plan() -> ChainPlan:
        if org.address is None:
            raise Problem(
                422,
                "unknown_member",
                "Not a ledger member",
                f"Organization {org_id} has no account.",
            )
        return catalogue.MINT.plan(rt.gateway.operator.address, org.address, fen(body.amount))

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.MINT,
            f"organization:{org_id}",
            {"org_id": org_id, "amount": body.amount},
            plan,
        )
    )


@router.post("/organizations/me/settlement-allowance", response_model=SettlementAllowanceAnswer)
def settlement_allowance(
    body: SettlementAllowanceRequest,
    rt: RuntimeDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
    _: Principal = Depends(require_roles(CORE_ENTERPRISE, FINANCIER)),  # noqa: B008
) -> JSONResponse:
    """Core enterprise or financier: allow the ledger to draw up to ``amount`` fen of your
    settlement cash (what repaying and buying offers pull), or with ``spender: bid_book``
    its bid book (what posting or topping up a standing bid escrows). A key the service
    keeps is allowed as needed; an organization that signs its own transactions sets it
    here (prepared for its signature like any command)."""
    p = ctx.principal

    def plan() -> ChainPlan:
        ledger = rt.gateway.ledger
        spender = ledger.bid_book_address if body.spender == "bid_book" else ledger.address
        return catalogue.APPROVE_SETTLEMENT.plan(p.address or "", fen(body.amount), spender)

    return command_response(
        rt.runner.run_chain(
            ctx,
            catalogue.APPROVE_SETTLEMENT,
            f"organization:{p.org_id}",
            body.model_dump(),
            plan,
        )
    )


@router.get("/organizations/{org_id}/balance", response_model=BalanceView)
def balance(
    org_id: OrgId,
    rt: RuntimeDep,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> BalanceView:
    """Settlement-token balance in fen (the organization itself, operator, auditors)."""
    if not p.sees_everything and p.org_id != org_id:
        raise Problem(
            403,
            "forbidden",
            "Not your organization",
            "Only the organization itself, the operator or an auditor may see this.",
        )
    org = _org(session, org_id)
    amount = rt.gateway.ledger.token_balance(org.address) if org.address else 0
    return BalanceView(org_id=org_id, balance=str(amount))
