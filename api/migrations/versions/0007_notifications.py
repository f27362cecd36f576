"""Notifications and webhooks (issue 15): api/models/notifications.py.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("dedupe", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False, server_default=""),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("read_at", TS, nullable=True),
        sa.UniqueConstraint("org_id", "dedupe", name="uq_notification_once"),
    )
    op.create_table(
        "notifier_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("block_number", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, nullable=False, index=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret_nonce", sa.LargeBinary, nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("disabled_at", TS, nullable=True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("webhook_id", sa.Integer, nullable=False, index=True),
        sa.Column("notification_id", sa.Integer, nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True, index=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("webhook_id", "notification_id", name="uq_delivery_once"),
    )


def downgrade() -> None:
    for table in ("webhook_deliveries", "webhooks", "notifier_checkpoint", "notifications"):
        op.drop_table(table)
