"""SQLModel tables. Alembic migrations in api/migrations own the schema; these classes are
the Python view of it (tests check the two agree)."""

from api.models.access import ApiKey, ApprovalRule, Organization
from api.models.chain_index import (
    CertificateRow,
    ChainEvent,
    FragmentRow,
    IndexerCheckpoint,
    OfferRow,
)
from api.models.commands import AuditEntry, Command
from api.models.coordination import Deployment, NonceCounter, RateBucket, SigningKey
from api.models.documents import Document
from api.models.notifications import (
    Notification,
    NotifierCheckpoint,
    Webhook,
    WebhookDelivery,
)
from api.models.people import User, WebSession

__all__ = [
    "ApiKey",
    "ApprovalRule",
    "AuditEntry",
    "CertificateRow",
    "ChainEvent",
    "Command",
    "Deployment",
    "Document",
    "FragmentRow",
    "IndexerCheckpoint",
    "NonceCounter",
    "Notification",
    "NotifierCheckpoint",
    "OfferRow",
    "Organization",
    "RateBucket",
    "SigningKey",
    "User",
    "WebSession",
    "Webhook",
    "WebhookDelivery",
]
