"""The purge log: one row per committed purge batch, for reports and the purge chart."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class RetentionPurge(SQLModel, table=True):
    __tablename__ = "retention_purges"
    __table_args__ = (Index("ix_retention_purges_policy_at", "policy_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_id: str = Field(max_length=63)
    # delete | anonymise | erase_subject, or the service data set's name.
    action: str = Field(max_length=32)
    # The collection purged from (None for a service data set or a whole subject).
    collection: str | None = Field(default=None, max_length=63)
    count: int
    run_id: uuid.UUID | None = Field(default=None)
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
