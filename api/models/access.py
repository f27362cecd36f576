"""Organizations and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from api.timeutil import utcnow


class Organization(SQLModel, table=True):
    """A member of the platform. ``role`` is the API role: operator, core_enterprise,
    supplier, financier or auditor (auditors and the operator have no business role on
    chain). ``address`` is the organization's signing account, its key in the key store."""

    __tablename__ = "organizations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    uscc: str | None = Field(default=None, max_length=18, unique=True)
    role: str = Field(max_length=32, index=True)
    address: str | None = Field(default=None, max_length=42, unique=True)
    key_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=16)  # onboarding | active | suspended
    #: who signs its transactions: ``platform`` (a key in the API's key store, ``key_id``),
    #: ``self`` (the organization signs prepared transactions with its own tool) or
    #: ``remote`` (an external signer at ``signer_url`` speaking eth_signTransaction)
    custody: str = Field(default="platform", max_length=16)
    signer_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key: only the SHA-256 of the token is stored (the token is 256 random bits,
    so a plain hash is enough; no salt or slow KDF is needed against guessing)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=200)
    #: what the key's holder may do inside its organization, comma-separated: ``maker``
    #: (start commands), ``checker`` (approve or reject others' commands), ``admin`` (keys
    #: and the approval policy); ``viewer`` alone reads. Keys made before duties existed
    #: have all three, as they could do everything.
    duties: str = Field(default="maker,checker,admin", max_length=64)
    #: the key that made this one (null: the operator's bootstrap, or made before this
    #: was kept); a key made by a command's maker, or by a key it made, is the maker's
    #: own second pair of eyes and may not approve its commands
    created_by_key_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class ApprovalRule(SQLModel, table=True):
    """One line of an organization's four-eyes policy: its commands of ``action`` whose
    amount is at least ``min_amount`` fen (every one, when null) wait for a checker."""

    __tablename__ = "approval_rules"
    __table_args__ = (UniqueConstraint("org_id", "action", name="uq_approval_rule"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True)
    action: str = Field(max_length=64)
    min_amount: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
