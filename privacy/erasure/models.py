"""The state of each subject's erasure, so that an interrupted one resumes where it stopped.

No personal data: a subject id (a random UUID), times, counts per collection, the ids of
the apps to notify, the holds that kept records, and the signed result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow

IN_PROGRESS = "in_progress"
# Records under a legal hold remain (with the DEK that opens them) until the hold ends.
HELD = "held"
COMPLETED = "completed"


class Erasure(SQLModel, table=True):
    __tablename__ = "erasures"

    # No foreign key: the subject row is deleted by the erasure this row describes.
    subject_id: uuid.UUID = Field(primary_key=True)
    request_id: uuid.UUID | None = Field(default=None)
    status: str = Field(default=IN_PROGRESS, max_length=16, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Rows deleted so far, per collection and for the blind index; kept exact across a
    # crash because each batch adds its counts in the transaction that deletes the rows.
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # client_ids of the apps that wrote or read the subject's data (Art. 19 recipients),
    # taken before anything is deleted.
    holders: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # When the first remaining hold ends: destroy_expired_holds then erases what it kept,
    # and the DEK once no hold is left.
    hold_until: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    # The request "result" (counts, key, kept, receipt), once the erasure has run.
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
