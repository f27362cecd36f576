"""The key that made each API key (api/models/access.py: ApiKey.created_by_key_id), so that
four-eyes approval can refuse a checker key made by the maker's own key.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("created_by_key_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("created_by_key_id")
