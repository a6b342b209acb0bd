"""The access log: who did what to whose data, why, and how it ended. Never values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Integer
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject_at", "subject_id", "at"),)

    id: int | None = Field(
        default=None,
        # BIGINT on PostgreSQL; SQLite only auto-increments a plain INTEGER key.
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    actor: str = Field(max_length=100, index=True)
    actor_type: str = Field(max_length=16)
    action: str = Field(max_length=48, index=True)
    outcome: str = Field(max_length=24)
    reason: str | None = Field(default=None, max_length=200)
    subject_id: str | None = Field(default=None, max_length=36)
    collection: str | None = Field(default=None, max_length=63)
    record_id: str | None = Field(default=None, max_length=36)
    fields: list[str] | None = Field(default=None, sa_column=Column(JSON))
    purpose: str | None = Field(default=None, max_length=63)
    request_id: str | None = Field(default=None, max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)
