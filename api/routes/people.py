"""People: signing in to the portal (``/v1/session``) and an organization's users.

The rules are in :mod:`api.people`; a user's commands are checked and recorded as its own
key row's (:mod:`api.models.people`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from api import people
from api.audit import record, record_done
from api.auth import ADMIN, Principal, authenticate, issue_key, member_suspended, parse_duties
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import ReadSessionDep, RuntimeDep, SessionDep, command_context
from api.models import ApiKey, Organization
from api.models.people import User, WebSession
from api.problems import Problem
from api.runtime import Runtime
from api.schemas import (
    LanguageChoice,
    PasswordChange,
    PasswordReset,
    SessionView,
    SignInRequest,
    UserRequest,
    UserView,
    org_view,
)
from api.services.access import MAX_DB_INT, not_found, self_or_operator
from api.timeutil import aware, utcnow

router = APIRouter(prefix="/v1", tags=["people"])
OrgId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
UserId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


def user_view(user: User, key: ApiKey) -> UserView:
    assert user.id is not None
    locked = user.locked_until is not None and aware(user.locked_until) > utcnow()
    return UserView(
        id=user.id,
        org_id=user.org_id,
        login=user.login,
        name=user.name,
        duties=sorted(parse_duties(key.duties)),  # type: ignore[arg-type]
        language=user.language,  # type: ignore[arg-type]
        api_key_id=user.api_key_id,
        disabled=key.revoked_at is not None,
        locked_until=aware(user.locked_until).isoformat() if locked and user.locked_until else None,
        last_sign_in_at=aware(user.last_sign_in_at).isoformat() if user.last_sign_in_at else None,
        created_at=aware(user.created_at).isoformat(),
    )


def _session_view(session: Session, user: User, token: str, request: Request) -> SessionView:
    rt = request.app.state.runtime
    policy = people.SessionPolicy.of(rt.settings)
    key = session.get(ApiKey, user.api_key_id)
    org = session.get(Organization, user.org_id)
    assert key is not None and org is not None
    row = session.get(WebSession, people.token_hash(token))
    expires = aware(row.expires_at) if row is not None else utcnow()
    return SessionView(
        user=user_view(user, key),
        organization=org_view(org),
        csrf_token=people.csrf_token(token),
        expires_at=expires.isoformat(),
        idle_timeout_seconds=int(policy.idle.total_seconds()),
    )


@router.post("/session", response_model=SessionView)
def sign_in(body: SignInRequest, request: Request, rt: RuntimeDep) -> JSONResponse:
    """A person signs in: the answer sets the session cookie and carries the CSRF token
    (401 ``sign_in_failed`` for a wrong login or password, alike; 429 ``account_locked``
    after too many wrong passwords; 403 ``member_suspended``)."""
    policy = people.SessionPolicy.of(rt.settings)
    user, token = people.sign_in(rt.engine, policy, body.login, body.password)
    with Session(rt.engine, expire_on_commit=False) as session:
        key = session.get(ApiKey, user.api_key_id)
        org = session.get(Organization, user.org_id)
        assert key is not None and org is not None
        if key.revoked_at is not None or org.status == "suspended":
            # the password was right: the session made is ended again at once
            people.end_sessions(session, user.id)  # type: ignore[arg-type]
            session.commit()
            if key.revoked_at is not None:
                raise people.sign_in_failed()
            raise member_suspended()
        record(
            session,
            org_id=user.org_id,
            api_key_id=user.api_key_id,
            action="sign_in",
            target=f"user:{user.id}",
            params={"login": user.login},
            outcome="succeeded",
        )
        session.commit()
        view = _session_view(session, user, token, request)
    response = JSONResponse(view.model_dump())
    response.set_cookie(
        people.SESSION_COOKIE,
        token,
        max_age=int(policy.lifetime.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _me(session: Session, p: Principal) -> User:
    """The signed-in person's row (404 ``unknown_session`` for an API key)."""
    user = session.get(User, _person(p))
    assert user is not None
    return user


def _person(p: Principal) -> int:
    """The signed-in person's user id (404 ``unknown_session`` for an API key)."""
    if p.user_id is None:
        raise Problem(
            404,
            "unknown_session",
            "No session",
            "This request was made with an API key: only a person signed in to the portal "
            "has a session.",
        )
    return p.user_id


@router.get("/session", response_model=SessionView)
def current_session(
    request: Request,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> SessionView:
    """Who is signed in, and the session's CSRF token (for a page loaded anew)."""
    user = _me(session, p)
    return _session_view(session, user, request.cookies[people.SESSION_COOKIE], request)


@router.delete("/session", status_code=204)
def sign_out(session: SessionDep, p: Principal = Depends(authenticate)) -> Response:  # noqa: B008
    """End this session (the cookie is cleared too)."""
    user_id = _person(p)
    row = session.get(WebSession, p.session_hash)
    if row is not None:
        session.delete(row)
    record_done(session, p, "sign_out", f"user:{user_id}")
    session.commit()
    response = Response(status_code=204)
    response.delete_cookie(people.SESSION_COOKIE, path="/")
    return response


@router.put("/session/password", response_model=SessionView)
def change_password(
    body: PasswordChange,
    request: Request,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> SessionView:
    """A person changes its own password (422 ``wrong_password`` if the current one is
    wrong); every other session of the person ends."""
    user = _me(session, p)
    if not people.password_matches(user.password_hash, body.current_password):
        raise Problem(422, "wrong_password", "Wrong password", "The current password is not right.")
    people.check_password_rules(body.new_password, user.login)
    user.password_hash = people.hash_password(body.new_password)
    session.add(user)
    people.end_sessions(session, user.id, keep=p.session_hash)  # type: ignore[arg-type]
    record_done(session, p, "change_password", f"user:{user.id}")
    session.commit()
    return _session_view(session, user, request.cookies[people.SESSION_COOKIE], request)


@router.put("/session/language", response_model=UserView)
def choose_language(
    body: LanguageChoice,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> UserView:
    """The portal's language for this person (``zh`` or ``en``)."""
    user = _me(session, p)
    user.language = body.language
    session.add(user)
    session.commit()
    key = session.get(ApiKey, user.api_key_id)
    assert key is not None
    return user_view(user, key)


# -- an organization's users -------------------------------------------------------------


def _user_of(session: Session, org_id: int, user_id: int) -> tuple[User, ApiKey]:
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id:
        raise not_found("user", user_id)
    key = session.get(ApiKey, user.api_key_id)
    assert key is not None
    return user, key


@router.post("/organizations/{org_id}/users", status_code=201, response_model=UserView)
def create_user(
    org_id: OrgId,
    body: UserRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """A person of the organization (its admins, or the operator): 409 ``login_taken``
    if the login is anyone's, 422 ``weak_password``."""
    self_or_operator(ctx.principal, org_id)
    org = session.get(Organization, org_id)
    if org is None:
        raise not_found("organization", org_id)
    people.check_password_rules(body.password, body.login)

    def work() -> tuple[int, dict[str, Any]]:
        if session.exec(select(User).where(User.login == body.login)).first() is not None:
            raise Problem(409, "login_taken", "Login taken", f"The login {body.login!r} is taken.")
        key, _ = issue_key(
            session,
            org_id,
            f"user:{body.login}",
            body.duties,
            created_by=ctx.principal.api_key_id,
        )
        assert key.id is not None
        user = User(
            org_id=org_id,
            login=body.login,
            name=body.name,
            password_hash=people.hash_password(body.password),
            api_key_id=key.id,
            language=body.language,
        )
        session.add(user)
        session.commit()
        return 201, user_view(user, key).model_dump()

    params = body.model_dump(exclude={"password"})  # never journaled or audited
    return command_response(
        rt.runner.run_local(ctx, "create_user", f"organization:{org_id}", params, work, duty=ADMIN)
    )


@router.get("/organizations/{org_id}/users", response_model=list[UserView])
def list_users(
    org_id: OrgId,
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[UserView]:
    """The organization's people (the organization itself, or the operator)."""
    self_or_operator(p, org_id)
    rows = session.exec(
        select(User, ApiKey)
        .where(User.org_id == org_id)
        .where(col(User.api_key_id) == col(ApiKey.id))
        .order_by(col(User.id))
    ).all()
    return [user_view(user, key) for user, key in rows]


def _admin_step(
    action: str,
    org_id: int,
    user_id: int,
    rt: Runtime,
    session: Session,
    ctx: CommandContext,
    change: Callable[[User, ApiKey], None],
) -> JSONResponse:
    """One admin's change to a user, as a command of its own (``change(user, key)``)."""
    self_or_operator(ctx.principal, org_id)
    _user_of(session, org_id, user_id)

    def work() -> tuple[int, dict[str, Any]]:
        user, key = _user_of(session, org_id, user_id)
        change(user, key)
        session.add(user)
        session.add(key)
        session.commit()
        return 200, user_view(user, key).model_dump()

    return command_response(
        rt.runner.run_local(ctx, action, f"user:{user_id}", {}, work, duty=ADMIN)
    )


@router.post("/organizations/{org_id}/users/{user_id}/disable", response_model=UserView)
def disable_user(
    org_id: OrgId,
    user_id: UserId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """The person may no longer sign in; its sessions end (its key row is revoked, so
    what it did stays attributed to it)."""

    def change(user: User, key: ApiKey) -> None:
        key.revoked_at = key.revoked_at or utcnow()
        people.end_sessions(session, user.id)  # type: ignore[arg-type]

    return _admin_step("disable_user", org_id, user_id, rt, session, ctx, change)


@router.post("/organizations/{org_id}/users/{user_id}/unlock", response_model=UserView)
def unlock_user(
    org_id: OrgId,
    user_id: UserId,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """Lift a lock-out before it ends by itself."""

    def change(user: User, key: ApiKey) -> None:
        user.locked_until, user.failed_attempts = None, 0

    return _admin_step("unlock_user", org_id, user_id, rt, session, ctx, change)


@router.put("/organizations/{org_id}/users/{user_id}/password", response_model=UserView)
def reset_password(
    org_id: OrgId,
    user_id: UserId,
    body: PasswordReset,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """An admin sets a new password (the person forgot it): its sessions end and its
    lock is lifted. The password is never journaled. Four eyes then counts the person as
    made by the admin: an admin who could sign in as a checker never checks its own
    commands through that checker."""
    self_or_operator(ctx.principal, org_id)
    user, _ = _user_of(session, org_id, user_id)
    people.check_password_rules(body.password, user.login)
    new_hash = people.hash_password(body.password)

    def change(user: User, key: ApiKey) -> None:
        user.password_hash, user.locked_until, user.failed_attempts = new_hash, None, 0
        people.end_sessions(session, user.id)  # type: ignore[arg-type]
        # whoever sets a person's password can act as that person until it is changed:
        # four eyes counts the person as made by the resetter (api.commands.approvals)
        key.created_by_key_id = ctx.principal.api_key_id

    return _admin_step("reset_password", org_id, user_id, rt, session, ctx, change)
