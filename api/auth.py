"""API keys and the caller's identity.

A key is ``scf_`` + 43 url-safe characters (256 random bits). Only its SHA-256 is stored,
so a database leak reveals no usable key; it is shown once, at creation. Every request
carries ``Authorization: Bearer <key>`` (or, from the portal, a person's session cookie:
:mod:`api.people`) and resolves to a :class:`Principal`: the
organization, its role, and its chain address. Role checks are declared per endpoint with
:func:`require_roles`; organization checks (whose fragment is this?) live in the services.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from fastapi import Depends, Request
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from api import people
from api.models import ApiKey, Organization
from api.models.people import User, WebSession
from api.problems import Problem
from api.refusals import note_caller
from api.timeutil import aware, utcnow

OPERATOR = "operator"
CORE_ENTERPRISE = "core_enterprise"
SUPPLIER = "supplier"
FINANCIER = "financier"
AUDITOR = "auditor"
#: the roles as a type (query filters list them in the OpenAPI document)
Role = Literal["operator", "core_enterprise", "supplier", "financier", "auditor"]
ROLES: tuple[str, ...] = get_args(Role)
assert ROLES == (OPERATOR, CORE_ENTERPRISE, SUPPLIER, FINANCIER, AUDITOR)
#: Roles that may hold fragments (the contract's _requireActiveHolder).
HOLDERS = (SUPPLIER, FINANCIER)
#: Roles that see every record (read-only for the auditor).
OVERSEERS = (OPERATOR, AUDITOR)
TOKEN_PREFIX = "scf_"
#: an API key's duties inside its organization (:attr:`api.models.ApiKey.duties`)
MAKER = "maker"
CHECKER = "checker"
ADMIN = "admin"
Duty = Literal["maker", "checker", "admin"]
DUTIES: tuple[str, ...] = get_args(Duty)

EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    org_id: int
    role: str
    address: str | None
    api_key_id: int | None
    name: str
    #: True only on an endpoint open to suspended members (:func:`open_to_suspended`),
    #: which must then refuse whatever would add to the member's exposure
    suspended: bool = False
    #: the key's duties (``maker``, ``checker``, ``admin``); none: it only reads
    duties: frozenset[str] = frozenset(DUTIES)
    #: the person signed in to the portal (``api_key_id`` is then the user's own key row)
    user_id: int | None = None
    #: the session's token hash, for a person signed in to the portal
    session_hash: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in OVERSEERS


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_key(
    session: Session,
    org_id: int,
    label: str = "",
    duties: Iterable[str] = DUTIES,
    created_by: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key with ``duties``; returns the row and the token (the only time it
    exists in clear)."""
    token = new_token()
    row = ApiKey(
        org_id=org_id,
        prefix=token[:10],
        token_hash=hash_token(token),
        label=label,
        duties=",".join(d for d in DUTIES if d in set(duties)),
        created_by_key_id=created_by,
    )
    session.add(row)
    session.flush()
    return row, token


def ensure_key(session: Session, org_id: int, token: str, label: str) -> None:
    """Register a key given from outside (the bootstrap operator key), once."""
    digest = hash_token(token)
    if session.exec(select(ApiKey).where(ApiKey.token_hash == digest)).first() is None:
        session.add(ApiKey(org_id=org_id, prefix=token[:10], token_hash=digest, label=label))


def _unauthenticated(detail: str) -> Problem:
    # RFC 9110: a 401 names the scheme the client should use
    return Problem(
        401,
        "unauthenticated",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="scf-ledger"'},
    )


def bearer_token(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value (None if there is none:
    then the request is refused without a look at the database, or at its body)."""
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def missing_key() -> Problem:
    return _unauthenticated("Send 'Authorization: Bearer <API key>'.")


_SUSPENDED = "Your organization is suspended by the platform operator."


def member_suspended(detail: str = _SUSPENDED) -> Problem:
    return Problem(403, "member_suspended", "Organization suspended", detail)


_OPEN_TO_SUSPENDED = "scf_open_to_suspended"


def open_to_suspended(*roles: str) -> Callable[[EndpointT], EndpointT]:
    """Decorator (under the route's): a suspended member of one of ``roles`` may still call
    this endpoint, and gets a :class:`Principal` with ``suspended`` set.

    Why: a suspension exists to stop a member's risk from growing, never to keep it open.
    The ledger lets a suspended bank lower or close its credit lines; refusing every
    request of a suspended organization at the door kept the bank from doing it. Every
    other endpoint still refuses a suspended member before anything else; an endpoint
    marked here checks ``Principal.suspended`` and refuses (:func:`member_suspended`) all
    it could do that does not reduce exposure (the ledger refuses it again in any case)."""

    def mark(endpoint: EndpointT) -> EndpointT:
        setattr(endpoint, _OPEN_TO_SUSPENDED, frozenset(roles))
        return endpoint

    return mark


def _open_to_suspended(request: Request) -> frozenset[str]:
    """The roles whose suspended members may call the request's endpoint (usually none)."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return getattr(endpoint, _OPEN_TO_SUSPENDED, frozenset())


def authenticate(request: Request) -> Principal:
    """The caller: a machine by its bearer key, else a person by the portal's session
    cookie (:mod:`api.people`); a bearer key wins when both are sent."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        cookie = request.cookies.get(people.SESSION_COOKIE)
        if cookie:
            return _session_principal(request, cookie)
        raise missing_key()
    runtime = request.app.state.runtime
    # the columns only, not ORM objects: every request pays this lookup
    query = (
        sa_select(
            ApiKey.id,
            ApiKey.revoked_at,
            Organization.id,
            Organization.role,  # type: ignore[call-overload]
            Organization.address,
            Organization.name,
            Organization.status,
            ApiKey.duties,
        )
        .where(ApiKey.token_hash == hash_token(token))
        .where(ApiKey.org_id == Organization.id)
    )
    with runtime.read_engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise _unauthenticated("The API key is unknown.")
    key_id, revoked_at, org_id, role, address, name, status, duties = row
    note_caller(org_id, key_id)  # a refusal below is audited under the key's owner
    if revoked_at is not None:
        raise _unauthenticated("The API key was revoked.")
    suspended = status == "suspended"
    if suspended and role not in _open_to_suspended(request):
        raise member_suspended()
    return Principal(org_id, role, address, key_id, name, suspended, parse_duties(duties))


def _session_principal(request: Request, token: str) -> Principal:
    """The person of a portal session, after the checks of :mod:`api.people`: the session
    is known and not ended, the user's key is not revoked, and a request that changes
    anything carries the session's CSRF token."""
    runtime = request.app.state.runtime
    policy = people.SessionPolicy.of(runtime.settings)
    digest = people.token_hash(token)
    columns: list[Any] = [
        WebSession.expires_at,
        WebSession.last_seen_at,
        User.id,
        ApiKey.id,
        ApiKey.revoked_at,
        ApiKey.duties,
        Organization.id,
        Organization.role,
        Organization.address,
        Organization.name,
        Organization.status,
    ]
    query = (
        sa_select(*columns)
        .where(col(WebSession.token_hash) == digest)
        .where(col(WebSession.user_id) == col(User.id))
        .where(col(User.api_key_id) == col(ApiKey.id))
        .where(col(User.org_id) == col(Organization.id))
    )
    with runtime.read_engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise _unauthenticated("The session is unknown or was ended: sign in again.")
    expires, seen, user_id, key_id, revoked_at, duties, org_id, role, address, name, status = row
    note_caller(org_id, key_id)
    now = utcnow()
    if revoked_at is not None or policy.ended(expires, seen, now):
        raise _unauthenticated("The session has ended: sign in again.")
    if request.method not in people.SAFE_METHODS and not people.csrf_matches(
        token, request.headers.get(people.CSRF_HEADER)
    ):
        raise people.csrf_failed()
    if now - aware(seen) >= people.TOUCH_EVERY:
        with runtime.engine.begin() as conn:
            conn.execute(
                update(WebSession).where(WebSession.token_hash == digest).values(last_seen_at=now)  # type: ignore[arg-type]
            )
    suspended = status == "suspended"
    if suspended and role not in _open_to_suspended(request):
        raise member_suspended()
    return Principal(
        org_id,
        role,
        address,
        key_id,
        name,
        suspended,
        parse_duties(duties),
        user_id=user_id,
        session_hash=digest,
    )


def parse_duties(text: str | None) -> frozenset[str]:
    """The duties stored as ``maker,checker`` (empty: a viewer)."""
    return frozenset(d for d in (text or "").split(",") if d)


def lacks_duty(duty: str, principal: Principal) -> Problem:
    return Problem(
        403,
        "wrong_duty",
        "Your API key may not do this",
        f"This needs an API key with the {duty} duty; yours has "
        f"{', '.join(sorted(principal.duties)) or 'none (it only reads)'}.",
        required_duty=duty,
    )


def require_duty(duty: str, principal: Principal) -> Principal:
    """``principal``, if its key has ``duty`` (else 403 wrong_duty)."""
    if duty not in principal.duties:
        raise lacks_duty(duty, principal)
    return principal


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: the caller, if its role is one of ``roles`` (else 403 wrong_role).
    ``async``: a comparison, not worth a thread hand-off (see :mod:`api.deps`)."""

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:  # noqa: B008
        if principal.role not in roles:
            raise Problem(
                403,
                "wrong_role",
                "Your role may not do this",
                f"This action is for {', '.join(roles)}; your organization is a {principal.role}.",
                required_roles=list(roles),
            )
        return principal

    return dependency
