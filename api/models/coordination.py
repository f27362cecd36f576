"""What the instances of a service on PostgreSQL share besides the ledger's rows: each
signing account's nonce counter, the sealed signing keys, the rate-limit buckets and the
deployment manifest. Why in the database: instances on several machines share nothing
else (docs/architecture.md, "The processes of a server"). The tables exist on SQLite too
(one schema, one set of migrations) and stay empty there: one machine's processes share
these through files in the data folder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Text
from sqlmodel import Column, Field, SQLModel

from api.timeutil import utcnow


class NonceCounter(SQLModel, table=True):
    """An account's next nonce (None: ask the node). A send holds the row locked from
    "pick the nonce" to "the node accepted the raw transaction" (api/nonces_pg.py)."""

    __tablename__ = "nonce_counters"

    address: str = Field(primary_key=True, max_length=42)
    next_nonce: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow)


class SigningKey(SQLModel, table=True):
    """A signing key sealed as the key store seals it (scrypt + AES-256-GCM under the
    master passphrase, chain_client/keystore.py): ``document`` is the very JSON a key file
    holds, so the database holds nothing the passphrase does not protect."""

    __tablename__ = "signing_keys"

    id: str = Field(primary_key=True, max_length=36)
    address: str = Field(max_length=42, unique=True)
    label: str = Field(default="", max_length=200)
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class RateBucket(SQLModel, table=True):
    """An organization's command bucket (api/ratelimit.py): tokens left when last
    counted, by the database's clock (one clock for every machine); ``granted``: whether
    the last command counted got a token."""

    __tablename__ = "rate_buckets"

    org_id: int = Field(primary_key=True)
    tokens: float
    counted_at: datetime
    granted: bool


class Deployment(SQLModel, table=True):
    """The manifest of the ledger this database's read model follows (name "ledger"), so
    that every instance serves that ledger and none deploys another (api/chain.py)."""

    __tablename__ = "deployments"

    name: str = Field(primary_key=True, max_length=32)
    manifest: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow)
