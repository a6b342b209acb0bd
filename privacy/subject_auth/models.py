"""Subject sign-in: one-time codes mailed to an address, and the sessions they open.

Neither table holds an e-mail address: only its blind-index digest (the same keyed HMAC
that finds subjects by e-mail), and codes only as keyed HMACs.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class SignInCode(SQLModel, table=True):
    __tablename__ = "subject_signin_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_index: str = Field(max_length=64, index=True)
    # Keyed HMAC (blind-index key, scope `_subject_auth.code`) of "<id>:<code>".
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    # Set when the code is used, or superseded by a newer one: it never works again.
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SubjectSession(SQLModel, table=True):
    """What a subject token stands for: the subjects whose e-mail was proven, until when."""

    __tablename__ = "subject_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email_index: str = Field(max_length=64)
    subject_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
