"""Blocked client addresses, in the database so that every replica enforces them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class IpBlock(SQLModel, table=True):
    __tablename__ = "ip_blocks"

    ip: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
