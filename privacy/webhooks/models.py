"""Outbound webhooks to apps (GDPR Art. 19): per-app signing secrets, deliveries, attempts.

Payloads carry ids and event names only, never personal data values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Uuid
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


class WebhookSecret(SQLModel, table=True):
    """An app's HMAC signing secret, stored only wrapped by the service's transit key."""

    __tablename__ = "webhook_secrets"

    app_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    )
    wrapped: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    app_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    )
    event: str = Field(max_length=48)
    subject_id: uuid.UUID = Field(index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    # Also a lease: a sender sets it ahead while a POST is in flight, so that another
    # sender (or this one after a crash) retries only once the lease has run out.
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One POST to an app's endpoint and how it ended."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid,
            ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    attempt: int
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=200)
    duration_ms: int = 0
