"""The service's own keys (blind-index root key, token signing key), stored only wrapped."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class ServiceKey(SQLModel, table=True):
    __tablename__ = "service_keys"

    name: str = Field(primary_key=True, max_length=64)
    # "vault:vN:..." from transit datakey; the plaintext exists only in process memory.
    wrapped: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
