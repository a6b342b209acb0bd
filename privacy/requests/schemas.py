"""Request bodies and answers of the data-subject request API.

A request body is `{subject_id, type, ...}` plus what its type needs:

- `rectification`: `changes: {collection: {record_id: {field: value}}}` (validated like
  PATCH on records; `null` removes an optional field);
- `restriction`: `ground` (the Art. 18(1) ground) to restrict, or `lift: true` to lift;
- `objection`: `purpose` (a legitimate-interests or public-task purpose), and
  `lift: true` to withdraw the objection;
- `access`, `portability`, `erasure`: nothing more.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from privacy.consent.schemas import RestrictionReason
from privacy.schemas import Identifier, StrictModel

RequestType = Literal[
    "access", "portability", "erasure", "rectification", "restriction", "objection"
]
RequestStatus = Literal["received", "identity_verified", "in_progress", "completed", "rejected"]
IdentityMethod = Literal["app_account", "id_document", "in_person", "signed_letter", "other"]
MAX_RECTIFIED_RECORDS = 1000


class RequestCreate(StrictModel):
    subject_id: uuid.UUID
    type: RequestType
    changes: dict[Identifier, dict[uuid.UUID, dict[str, Any]]] | None = Field(
        None, description="Rectification only: {collection: {record_id: {field: value}}}."
    )
    purpose: Identifier | None = Field(None, description="Objection only: the purpose objected to.")
    ground: RestrictionReason | None = Field(
        None, description="Restriction only: the Art. 18(1) ground (required unless lifting)."
    )
    lift: bool = Field(False, description="Restriction or objection: lift it instead.")

    @model_validator(mode="after")
    def _fits_type(self) -> RequestCreate:
        t = self.type
        if (self.changes is not None) != (t == "rectification"):
            raise ValueError("changes is required for rectification and only allowed there")
        if t == "rectification":
            records = [r for recs in (self.changes or {}).values() for r in recs.values()]
            if not records or any(not r for r in records):
                raise ValueError("changes must name at least one field of one record")
            if len(records) > MAX_RECTIFIED_RECORDS:
                raise ValueError(f"at most {MAX_RECTIFIED_RECORDS} records per request")
        if (self.purpose is not None) != (t == "objection"):
            raise ValueError("purpose is required for objection and only allowed there")
        if self.lift and t not in ("restriction", "objection"):
            raise ValueError("lift applies to restriction and objection only")
        if self.ground is not None and (t != "restriction" or self.lift):
            raise ValueError("ground applies to a restriction being set only")
        if t == "restriction" and not self.lift and self.ground is None:
            raise ValueError("ground is required to restrict (or set lift: true)")
        return self


class RequestExtend(StrictModel):
    reason: str = Field(min_length=1, max_length=1000)
    months: int = Field(2, ge=1, le=2, description="Further months (Art. 12(3)): 1 or 2.")


class RequestReject(StrictModel):
    reason: str = Field(min_length=1, max_length=1000)


class IdentityVerified(StrictModel):
    method: IdentityMethod = Field(description="How the DPO verified the requester's identity.")


class RequestRead(BaseModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    type: RequestType
    status: RequestStatus
    received_at: datetime
    due_at: datetime
    extended_until: datetime | None = None
    extension_reason: str | None = None
    identity_verified_at: datetime | None = None
    identity_method: str | None = None
    completed_at: datetime | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    filed_by: str
    overdue: bool = Field(description="Still open after its (extended) deadline.")
