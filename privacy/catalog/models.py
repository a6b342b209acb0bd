"""Collections (typed PII fields) and purposes (why data may be read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


class Collection(SQLModel, table=True):
    __tablename__ = "collections"

    name: str = Field(primary_key=True, max_length=63)
    # [{name, type, category, searchable, required}]
    fields: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Purpose(SQLModel, table=True):
    __tablename__ = "purposes"

    id: str = Field(primary_key=True, max_length=63)
    description: str = Field(max_length=2000)
    legal_basis: str = Field(max_length=32)
    collections: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # None: every field of the listed collections.
    fields: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    retention_policy: str | None = Field(default=None, max_length=63)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class CatalogVersion(SQLModel, table=True):
    """One row, bumped in the transaction of every change to a collection or purpose, so
    that each process can tell cheaply whether its cached catalog is current."""

    __tablename__ = "catalog_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
