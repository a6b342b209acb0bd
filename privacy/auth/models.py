"""Principals: staff users (admin, dpo, auditor) and apps (OAuth2 clients)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class App(SQLModel, table=True):
    __tablename__ = "apps"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    client_id: str = Field(max_length=64, unique=True, index=True)
    # SHA-256 of a 256-bit random secret: a slow hash adds nothing against guessing a value
    # of that entropy, and would cost ~200 ms of CPU on every token request.
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    webhook_url: str | None = Field(default=None, max_length=2000)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
