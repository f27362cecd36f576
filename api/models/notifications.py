"""Notifications to organizations, and the webhooks that carry them out (api.notify)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from api.timeutil import utcnow


class Notification(SQLModel, table=True):
    """Something an organization should know: a certificate or fragment received, a
    financing paid, a payout received, a maturity a week ahead, an overdue certificate.
    ``dedupe`` makes each one once per organization however often its source is read
    again (the notifier re-reads recent blocks, for reorganizations)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("org_id", "dedupe", name="uq_notification_once"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(index=True)
    kind: str = Field(max_length=32, index=True)
    dedupe: str = Field(max_length=200)
    #: what it is about, as the API names records (``certificate:12``, ``fragment:..``)
    subject: str = Field(default="", max_length=100)
    data: str = Field(sa_column=Column(Text, nullable=False))
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    read_at: datetime | None = None


class NotifierCheckpoint(SQLModel, table=True):
    """The last block whose events the notifier has turned into notifications."""

    __tablename__ = "notifier_checkpoint"

    id: int = Field(default=1, primary_key=True)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))


class Webhook(SQLModel, table=True):
    """An organization's endpoint for its notifications. The signing secret is kept
    encrypted (AES-256-GCM under the service's document key), shown once at creation."""

    __tablename__ = "webhooks"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(index=True)
    url: str = Field(max_length=500)
    secret_nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    secret_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    disabled_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One notification (or a test) to one webhook, with every attempt: retried with
    back-off until the endpoint answers 2xx or the attempts run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "notification_id", name="uq_delivery_once"),)

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(index=True)
    notification_id: int | None = None  # None: a test
    event: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=16, index=True)  # pending|delivered|failed
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, index=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    #: every attempt: [{"at", "status_code", "error", "ms"}] as JSON
    log: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
