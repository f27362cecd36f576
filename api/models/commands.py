"""Commands (the idempotency and crash-recovery journal) and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from api.timeutil import utcnow


class Command(SQLModel, table=True):
    """One state-changing request and, once known, its transaction and stored response.

    A chain command's row is first written by the commit that journals its signed
    transaction (or stores its refusal); a local command's when it is accepted.
    Status: ``pending`` (accepted, nothing signed), ``pending_approval`` (waits for a
    checker of its organization), ``awaiting_signature`` (prepared for the organization's
    own signer, its nonce reserved), ``signed`` (raw transaction stored,
    maybe broadcast: on restart it is reconciled with the chain by hash), ``succeeded`` /
    ``refused`` (response stored: a replay returns it byte for byte), ``aborted`` (the
    process died before signing; nothing reached the chain, a retry runs it again).
    """

    __tablename__ = "commands"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key", name="uq_command_key"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(index=True)
    api_key_id: int | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)
    fingerprint: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=100)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=32, index=True)
    sender: str | None = Field(default=None, max_length=42)
    nonce: int | None = None
    tx_hash: str | None = Field(default=None, max_length=66)
    raw_tx: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: a command that waits (``pending_approval``, ``awaiting_signature``) expires then
    expires_at: datetime | None = Field(default=None, index=True)
    #: what the command does, in words (shown to the checker and to the outside signer)
    summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: the fen the command moves or commits, as the approval policy weighs it
    stake: str | None = Field(default=None, max_length=40)
    checker_key_id: int | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: a transaction prepared for an outside signer (JSON, chain_client.unsigned)
    unsigned_tx: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """Who did what, when, and which transaction resulted (append-only)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    org_id: int | None = Field(default=None, index=True)
    api_key_id: int | None = None
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=100)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    outcome: str = Field(max_length=16)  # succeeded | refused | failed
    code: str | None = Field(default=None, max_length=64)
    tx_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = None
