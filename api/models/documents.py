"""Uploaded documents, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlmodel import Column, Field, SQLModel

from api.timeutil import utcnow


class Document(SQLModel, table=True):
    """An invoice, contract or waybill. ``ciphertext`` is AES-256-GCM of the content with
    the document id as associated data (so blobs cannot be swapped between rows);
    ``keccak256`` is what gets anchored on chain as the certificate's documentHash."""

    __tablename__ = "documents"

    id: str = Field(primary_key=True, max_length=36)
    org_id: int = Field(index=True)
    kind: str = Field(max_length=32)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    keccak256: str = Field(max_length=66, index=True)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    certificate_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
