"""The read model: chain events and the current state of ledger records, as indexed.

Money is stored as decimal strings: uint128 fen do not fit a 64-bit integer column and
SQLite would turn a large NUMERIC into a float. Sums are done in Python on ints.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel


class IndexerCheckpoint(SQLModel, table=True):
    """The event reader's checkpoints, one per block it ended a page on (the newest is
    how far the read model is)."""

    __tablename__ = "indexer_checkpoints"

    block_number: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    block_hash: str = Field(max_length=66)


class ChainEvent(SQLModel, table=True):
    """One ledger event (the history of certificates, fragments and offers)."""

    __tablename__ = "chain_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index", name="uq_event_log"),)

    id: int | None = Field(default=None, primary_key=True)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66, index=True)
    log_index: int
    event: str = Field(max_length=64, index=True)
    args: str = Field(sa_column=Column(Text, nullable=False))
    certificate_id: int | None = Field(default=None, index=True)
    fragment_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    offer_id: int | None = Field(default=None, index=True)


class CertificateRow(SQLModel, table=True):
    __tablename__ = "certificates"

    id: int = Field(primary_key=True)
    issuer: str = Field(max_length=42, index=True)
    beneficiary: str = Field(max_length=42, index=True)
    credit_provider: str = Field(max_length=42, index=True)
    face_value: str = Field(max_length=40)
    maturity: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    issued_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16, index=True)
    fragment_count: int = 0
    repaid: str = Field(default="0", max_length=40)
    paid_out: str = Field(default="0", max_length=40)
    invoice_key: str = Field(max_length=66)
    document_hash: str = Field(max_length=66)
    block_number: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class FragmentRow(SQLModel, table=True):
    __tablename__ = "fragments"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    certificate_id: int = Field(index=True)
    seq: int
    parent_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    holder: str = Field(max_length=42, index=True)
    value: str = Field(max_length=40)
    paid: str = Field(default="0", max_length=40)
    block_number: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class OfferRow(SQLModel, table=True):
    __tablename__ = "offers"

    id: int = Field(primary_key=True)
    fragment_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    seller: str = Field(max_length=42, index=True)
    financier: str = Field(max_length=42, index=True)
    amount: str = Field(max_length=40)
    rate_bps: int
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16, index=True)
    financed_fragment_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    discount: str | None = Field(default=None, max_length=40)
    payment: str | None = Field(default=None, max_length=40)
    days: int | None = None
    accepted_block: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    block_number: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
