"""Initial schema: organizations and keys, documents, commands and audit log, read model.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=True, unique=True),
        sa.Column("role", sa.String(32), nullable=False, index=True),
        sa.Column("address", sa.String(42), nullable=True, unique=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "org_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False, index=True
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.Integer, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("keccak256", sa.String(66), nullable=False, index=True),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("certificate_id", sa.Integer, nullable=True, index=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, nullable=False, index=True),
        sa.Column("api_key_id", sa.Integer, nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("sender", sa.String(42), nullable=True),
        sa.Column("nonce", sa.Integer, nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("raw_tx", sa.Text, nullable=True),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_command_key"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("org_id", sa.Integer, nullable=True, index=True),
        sa.Column("api_key_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(64), nullable=False, index=True),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.Integer, nullable=True),
    )
    op.create_table(
        "indexer_checkpoints",
        sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("block_number", sa.BigInteger, nullable=False, index=True),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False, index=True),
        sa.Column("log_index", sa.Integer, nullable=False),
        sa.Column("event", sa.String(64), nullable=False, index=True),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("certificate_id", sa.Integer, nullable=True, index=True),
        sa.Column("fragment_id", sa.BigInteger, nullable=True, index=True),
        sa.Column("offer_id", sa.Integer, nullable=True, index=True),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_event_log"),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("issuer", sa.String(42), nullable=False, index=True),
        sa.Column("beneficiary", sa.String(42), nullable=False, index=True),
        sa.Column("credit_provider", sa.String(42), nullable=False, index=True),
        sa.Column("face_value", sa.String(40), nullable=False),
        sa.Column("maturity", sa.BigInteger, nullable=False, index=True),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("fragment_count", sa.Integer, nullable=False),
        sa.Column("repaid", sa.String(40), nullable=False),
        sa.Column("paid_out", sa.String(40), nullable=False),
        sa.Column("invoice_key", sa.String(66), nullable=False),
        sa.Column("document_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fragments",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("certificate_id", sa.Integer, nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.BigInteger, nullable=True),
        sa.Column("holder", sa.String(42), nullable=False, index=True),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("paid", sa.String(40), nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("fragment_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("seller", sa.String(42), nullable=False, index=True),
        sa.Column("financier", sa.String(42), nullable=False, index=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("rate_bps", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("financed_fragment_id", sa.BigInteger, nullable=True),
        sa.Column("discount", sa.String(40), nullable=True),
        sa.Column("payment", sa.String(40), nullable=True),
        sa.Column("days", sa.Integer, nullable=True),
        sa.Column("accepted_block", sa.BigInteger, nullable=True),
        sa.Column("block_number", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "offers",
        "fragments",
        "certificates",
        "chain_events",
        "indexer_checkpoints",
        "audit_log",
        "commands",
        "documents",
        "api_keys",
        "organizations",
    ):
        op.drop_table(table)
