from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import EmailStr, Field

from privacy.schemas import ReadModel, StrictModel


class SubjectCreate(StrictModel):
    external_id: str = Field(min_length=1, max_length=256, description="The app's own id.")
    email: EmailStr | None = None


class SubjectRead(ReadModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    created_by: str
    has_email: bool
    records: dict[str, int] = Field(description="Number of records per collection.")


class RecordCreate(StrictModel):
    subject_id: uuid.UUID
    data: dict[str, Any]


class RecordUpdate(StrictModel):
    data: dict[str, Any] = Field(
        description="Fields to change; null removes an optional field.", min_length=1
    )


class RecordBatch(StrictModel):
    records: list[RecordCreate] = Field(min_length=1, max_length=1000)


class RecordCreated(ReadModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    collection: str
    created_at: datetime


class RecordRead(ReadModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    collection: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
