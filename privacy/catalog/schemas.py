from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from privacy.schemas import Identifier, ReadModel, StrictModel

FieldType = Literal["string", "email", "phone", "date", "number", "boolean", "json"]
LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]
SEARCHABLE_TYPES = {"string", "email", "phone", "date", "number"}


class FieldSpec(StrictModel):
    name: Identifier
    type: FieldType
    category: Identifier = Field(description="PII category, e.g. contact, identity, financial.")
    searchable: bool = False
    required: bool = False

    @model_validator(mode="after")
    def _searchable_type(self) -> FieldSpec:
        if self.searchable and self.type not in SEARCHABLE_TYPES:
            raise ValueError(f"a {self.type} field cannot be searchable")
        return self


class CollectionPut(StrictModel):
    fields: list[FieldSpec] = Field(min_length=1, max_length=200)

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FieldSpec]) -> list[FieldSpec]:
        names = [f.name for f in fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate field names: {', '.join(dupes)}")
        return fields


class CollectionRead(ReadModel):
    name: str
    fields: list[FieldSpec]
    version: int
    created_at: datetime
    updated_at: datetime


class PurposePut(StrictModel):
    description: str = Field(min_length=1, max_length=2000)
    legal_basis: LegalBasis
    collections: list[Identifier] = Field(min_length=1, max_length=100)
    fields: list[Identifier] | None = Field(
        default=None,
        description="Fields this purpose may read; unset means every field of its collections.",
    )
    retention_policy: Identifier | None = None


class PurposeRead(ReadModel):
    id: str
    description: str
    legal_basis: str
    collections: list[str]
    fields: list[str] | None
    retention_policy: str | None
    created_at: datetime
    updated_at: datetime
