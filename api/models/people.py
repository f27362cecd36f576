"""People who sign in to the portal, and their browser sessions.

A user is a person inside an organization. Its identity everywhere a command is
attributed (the journal, the audit log, four-eyes approval, who made which key) is an
:class:`~api.models.access.ApiKey` row of its own, ``api_key_id``, whose token is never
shown: the key row carries the user's duties and its revocation, so a user's command is
checked, approved and audited by exactly the rules of a machine's key, and a checker user
is a different key from the maker user. Only the password's argon2id hash is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from api.timeutil import utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    #: what the person types to sign in, lower case (unique on the platform)
    login: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    #: the user's credential (duties, revocation, attribution): see the module docstring
    api_key_id: int = Field(foreign_key="api_keys.id", unique=True)
    #: failed sign-ins since the last success or lock-out
    failed_attempts: int = 0
    locked_until: datetime | None = None
    #: the portal's language for this person (``zh`` or ``en``)
    language: str = Field(default="zh", max_length=8)
    last_sign_in_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
    It ends at ``expires_at``, or after ``idle`` without a request (see api.people)."""

    __tablename__ = "web_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
