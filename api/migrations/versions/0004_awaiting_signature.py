"""A command's status fits ``awaiting_signature`` (issue 13): the column was 16 characters,
and PostgreSQL refuses the 18 of the status of a command prepared for its organization's
own signer (SQLite does not check the length, so only PostgreSQL showed it).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commands") as table:
        table.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("commands") as table:
        table.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
