"""Who signs (issue 13): an organization's custody of its key, duties on API keys, the
four-eyes approval policy, and the columns of a command that waits for a checker or for
its organization's own signature (api/models/access.py, api/models/commands.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("organizations") as table:
        table.add_column(
            sa.Column("custody", sa.String(16), nullable=False, server_default="platform")
        )
        table.add_column(sa.Column("signer_url", sa.String(500), nullable=True))
    with op.batch_alter_table("api_keys") as table:
        # keys made before duties existed could do everything: they keep doing it
        table.add_column(
            sa.Column("duties", sa.String(64), nullable=False, server_default="maker,checker,admin")
        )
    op.create_table(
        "approval_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False, index=True
        ),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("min_amount", sa.String(40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("org_id", "action", name="uq_approval_rule"),
    )
    with op.batch_alter_table("commands") as table:
        table.add_column(sa.Column("expires_at", TS, nullable=True))
        table.add_column(sa.Column("summary", sa.Text, nullable=True))
        table.add_column(sa.Column("stake", sa.String(40), nullable=True))
        table.add_column(sa.Column("checker_key_id", sa.Integer, nullable=True))
        table.add_column(sa.Column("decided_at", TS, nullable=True))
        table.add_column(sa.Column("decision_reason", sa.Text, nullable=True))
        table.add_column(sa.Column("unsigned_tx", sa.Text, nullable=True))
        table.create_index("ix_commands_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("commands") as table:
        table.drop_index("ix_commands_expires_at")
        for column in (
            "unsigned_tx",
            "decision_reason",
            "decided_at",
            "checker_key_id",
            "stake",
            "summary",
            "expires_at",
        ):
            table.drop_column(column)
    op.drop_table("approval_rules")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("duties")
    with op.batch_alter_table("organizations") as table:
        table.drop_column("signer_url")
        table.drop_column("custody")
