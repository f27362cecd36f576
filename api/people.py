"""Sign-in for people: passwords, lock-out, browser sessions and their CSRF tokens.

Machines keep their API keys (:mod:`api.auth`); a person signs in to the portal with a
login and a password and gets a session cookie. What the person may do is what the
user's own key row may do (:mod:`api.models.people`), so every rule of the API (roles,
duties, four eyes, idempotency, the audit log, the problem documents) applies unchanged.

* **Passwords** are hashed with argon2id by argon2-cffi's ``PasswordHasher`` (its
  defaults are RFC 9106's second recommended setting, 64 MiB and 3 passes). A hash made
  with older parameters is replaced at the next sign-in. A sign-in for an unknown login
  still verifies a password (against a fixed hash), so the answer's timing does not tell
  which logins exist.
* **Cost**: a hash or a check takes ~0.1 s and 64 MiB, and a sign-in is the one request
  anyone may send: at most :data:`AT_ONCE` run at a time in a process (the others wait
  their turn), so a flood of sign-ins queues instead of taking the machine's memory.
* **Lock-out**: after ``sign_in_attempts`` wrong passwords in a row, the account is locked
  for ``lockout_minutes``; while locked, a sign-in is refused (429 ``account_locked``, with
  Retry-After) *without* looking at the password, so guessing cannot go on. An admin of
  the organization may unlock it sooner.
* **Sessions**: 256 random bits in an ``HttpOnly``, ``SameSite=Strict`` cookie
  (``Secure`` when served over HTTPS); only the token's SHA-256 is stored. A session ends
  at sign-out, after ``session_idle_minutes`` without a request, or ``session_hours`` after
  sign-in, whichever comes first; a password change or a disabled user ends them all.
* **CSRF**: a request authenticated by the cookie that changes anything (any method but
  GET, HEAD and OPTIONS) must carry ``X-CSRF-Token``, an HMAC of the session token that
  the sign-in answer (and ``GET /v1/session``) gives the page. Another site can make a
  browser send the cookie (``SameSite`` stops most of that, not all: a sibling subdomain is
  the same site) but cannot read the token, so its forged request is refused (403
  ``csrf_failed``). Requests with a bearer key carry no ambient credential and need none.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from api.models.people import User, WebSession
from api.problems import Problem
from api.timeutil import aware, utcnow

if TYPE_CHECKING:
    from api.settings import Settings

SESSION_COOKIE = "scf_session"
CSRF_HEADER = "X-CSRF-Token"
#: methods that change nothing, and so need no CSRF token (RFC 9110's safe methods)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: a session's last-seen time is written at most this often (not on every request)
TOUCH_EVERY = timedelta(seconds=60)
MIN_PASSWORD = 12
MAX_PASSWORD = 128

_hasher = PasswordHasher()
#: password hashes and checks running at once in a process (see the module docstring)
AT_ONCE = 4
_turns = threading.BoundedSemaphore(AT_ONCE)


@cache
def _dummy_hash() -> str:
    """Verified against when the login is unknown (see the module docstring); made on
    first use, as a hash costs a tenth of a second."""
    return hash_password(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    with _turns:
        return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    with _turns:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def weak_password(detail: str) -> Problem:
    return Problem(422, "weak_password", "The password is too weak", detail)


def check_password_rules(password: str, login: str) -> None:
    """422 ``weak_password`` unless the password is 12 to 128 characters, not the login,
    and not one character repeated (length beats composition rules: NIST SP 800-63B)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:  # the schema says it too
        raise weak_password(
            f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; this one has "
            f"{len(password)}."
        )
    if password.lower() == login.lower() or len(set(password)) < 4:
        raise weak_password("Choose a password that is not the login and not a repetition.")


def normal_login(login: str) -> str:
    return login.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret token, so nothing more is
    stored and it changes with every session."""
    return hmac.new(session_token.encode(), b"scf-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(session_token), presented)


def csrf_failed() -> Problem:
    return Problem(
        403,
        "csrf_failed",
        "Missing or wrong CSRF token",
        f"A signed-in browser's request that changes something must carry the "
        f"{CSRF_HEADER} header given at sign-in; this one did not, so nothing was done.",
    )


def sign_in_failed() -> Problem:
    return Problem(
        401,
        "sign_in_failed",
        "Wrong login or password",
        "The login or the password is wrong.",
        headers={"WWW-Authenticate": 'Bearer realm="scf-ledger"'},
    )


def account_locked(until: datetime) -> Problem:
    seconds = max(1, int((until - utcnow()).total_seconds()) + 1)
    return Problem(
        429,
        "account_locked",
        "Account locked",
        f"Too many wrong passwords: this account is locked for {seconds} more seconds "
        f"(or until an admin of the organization unlocks it).",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )


@dataclass(frozen=True)
class SessionPolicy:
    """The lock-out and session lifetimes (from :class:`~api.settings.Settings`)."""

    attempts: int
    lockout: timedelta
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def of(cls, settings: Settings) -> SessionPolicy:
        return cls(
            attempts=settings.sign_in_attempts,
            lockout=timedelta(minutes=settings.lockout_minutes),
            idle=timedelta(minutes=settings.session_idle_minutes),
            lifetime=timedelta(hours=settings.session_hours),
        )

    def ended(self, row_expires: datetime, last_seen: datetime, now: datetime) -> bool:
        return aware(row_expires) <= now or aware(last_seen) + self.idle <= now


def sign_in(engine: Engine, policy: SessionPolicy, login: str, password: str) -> tuple[User, str]:
    """The user and a new session's token, or a refusal (see the module docstring). A
    failure is counted in its own committed transaction before the refusal is raised."""
    login = normal_login(login)
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        user = session.exec(select(User).where(User.login == login)).first()
        if user is None:
            password_matches(_dummy_hash(), password)
            raise sign_in_failed()
        if user.locked_until is not None and aware(user.locked_until) > now:
            raise account_locked(aware(user.locked_until))
        if not password_matches(user.password_hash, password):
            _count_failure(session, policy, user.id, now)
            raise sign_in_failed()
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_attempts, user.locked_until, user.last_sign_in_at = 0, None, now
        token = secrets.token_urlsafe(32)
        # a user's ended sessions are swept when it signs in again
        session.execute(
            delete(WebSession)
            .where(col(WebSession.user_id) == user.id)
            .where(
                (col(WebSession.expires_at) <= now)
                | (col(WebSession.last_seen_at) <= now - policy.idle)
            )
        )
        session.add(user)
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user.id,  # type: ignore[arg-type]
                created_at=now,
                last_seen_at=now,
                expires_at=now + policy.lifetime,
            )
        )
        session.commit()
        return user, token


def _count_failure(
    session: Session, policy: SessionPolicy, user_id: int | None, now: datetime
) -> None:
    """One more wrong password; the ``attempts``-th locks the account (one transaction, so
    concurrent wrong guesses are all counted)."""
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(failed_attempts=col(User.failed_attempts) + 1)
    )
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .where(col(User.failed_attempts) >= policy.attempts)
        .values(failed_attempts=0, locked_until=now + policy.lockout)
    )
    session.commit()


def end_sessions(session: Session, user_id: int, keep: str | None = None) -> None:
    """End every session of the user (but ``keep``, a token hash). Not committed."""
    query = delete(WebSession).where(col(WebSession.user_id) == user_id)
    if keep is not None:
        query = query.where(col(WebSession.token_hash) != keep)
    session.execute(query)
