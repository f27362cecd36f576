"""Organizations and their API keys."""

from __future__ import annotations

from datetime import datetime

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
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
