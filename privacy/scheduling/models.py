"""One row per run of a scheduled job: what ran, when, what it did, how it ended."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow

# running: started and not finished (or killed: the next run marks it interrupted).
OUTCOMES = ("running", "ok", "error", "skipped", "interrupted")


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    job: str = Field(max_length=63)
    # schedule | cli | api: who started it.
    started_by: str = Field(default="schedule", max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    outcome: str = Field(default="running", max_length=16)
    # Counts only (records purged, DEKs rewrapped, ...); never values.
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The error's type and a message free of personal data.
    error: str | None = Field(default=None, max_length=500)
    host: str = Field(default="", max_length=100)
