"""Data subjects and their records. Values are stored only sealed under the subject's DEK."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, LargeBinary, Uuid
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow
from privacy.ids import uuid7


class Subject(SQLModel, table=True):
    __tablename__ = "subjects"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Blind indexes (keyed HMAC) let apps find a subject without decrypting anything.
    external_id_index: str = Field(max_length=64, unique=True)
    email_index: str | None = Field(default=None, max_length=64, index=True)
    external_id_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    email_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # The subject's DEK, wrapped by the derived KEK under the context of this subject's id.
    wrapped_dek: str = Field(max_length=1000)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Record(SQLModel, table=True):
    __tablename__ = "records"
    # subject_id first: it also serves the ON DELETE CASCADE from subjects (see 0021).
    __table_args__ = (
        Index("ix_records_subject_collection", "subject_id", "collection"),
        Index("ix_records_collection_created", "collection", "created_at"),
        Index("ix_records_collection_updated", "collection", "updated_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)  # time-ordered: ids.py
    subject_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False)
    )
    collection: str = Field(foreign_key="collections.name", max_length=63)
    # {field: base64(sealed value)}; AAD binds each to (subject, collection, record, field).
    sealed: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class BlindIndexEntry(SQLModel, table=True):
    __tablename__ = "blind_index"
    __table_args__ = (Index("ix_blind_index_lookup", "collection", "field", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    collection: str = Field(max_length=63)
    field: str = Field(max_length=63)
    digest: str = Field(max_length=64)
    record_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("records.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    # Not indexed: every lookup by subject goes through records (see 0021).
    subject_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
