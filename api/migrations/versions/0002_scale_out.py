"""What instances on several machines share through PostgreSQL: nonce counters, sealed
signing keys, rate-limit buckets, the deployment manifest (api/models/coordination.py).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "nonce_counters",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("next_nonce", sa.BigInteger, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("address", sa.String(42), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("org_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("counted_at", TS, nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("deployments", "rate_buckets", "signing_keys", "nonce_counters"):
        op.drop_table(table)
