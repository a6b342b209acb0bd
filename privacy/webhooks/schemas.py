from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WebhookSecretRead(BaseModel):
    app_id: uuid.UUID
    secret: str = Field(
        description="HMAC-SHA256 key for `X-Privacy-Signature` (the whole string, as UTF-8). "
        "Shown once; a new call replaces it."
    )
    signature_scheme: str = "v1=hex(HMAC-SHA256(secret, X-Privacy-Timestamp + '.' + body))"


class WebhookAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    app_id: uuid.UUID
    event: str
    subject_id: uuid.UUID
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    history: list[WebhookAttemptRead] = Field(default_factory=list)
