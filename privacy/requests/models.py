"""Data-subject requests (GDPR Art. 12-21) and the export archives they produce."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, LargeBinary, Text, Uuid, text
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow

OPEN_STATUSES = ("received", "identity_verified", "in_progress")
_OPEN = "status IN ('received', 'identity_verified', 'in_progress')"


class DataSubjectRequest(SQLModel, table=True):
    __tablename__ = "dsr_requests"
    __table_args__ = (
        # One open request per (subject, type): a second filing returns the open one.
        Index(
            "uq_dsr_requests_open",
            "subject_id",
            "type",
            unique=True,
            postgresql_where=text(_OPEN),
            sqlite_where=text(_OPEN),
        ),
        Index("ix_dsr_requests_status_due", "status", "due_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # No foreign key: the request (and its proof) outlives an erased subject.
    subject_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False, index=True))
    type: str = Field(max_length=16)
    status: str = Field(max_length=20)
    # Non-personal parameters: purpose, lift, ground; for rectification which fields of
    # which records change (names only).
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Rectification values waiting for the DPO, sealed under the subject's DEK.
    sealed_changes: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    filed_by: str = Field(max_length=100, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime)
    extended_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    extension_reason: str | None = Field(default=None, sa_column=Column(Text))
    identity_verified_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    identity_method: str | None = Field(default=None, max_length=32)
    completed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class DsrExport(SQLModel, table=True):
    """An access/portability archive: a file under the data dir, encrypted under its own
    key (wrapped by the Vault KEK), deleted after `PRIVACY_EXPORT_TTL_DAYS`."""

    __tablename__ = "dsr_exports"

    request_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("dsr_requests.id", ondelete="CASCADE"), primary_key=True)
    )
    subject_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False, index=True))
    file_name: str = Field(max_length=100)
    wrapped_key: str = Field(max_length=1000)
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
    deleted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
