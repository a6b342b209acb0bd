from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from privacy.consent.proof import text_hash
from privacy.schemas import ReadModel, StrictModel

PolicyVersion = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,31}$"),
    Field(description="Version of the privacy notice or consent text, e.g. `2025-03` or `v4.1`."),
]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ConsentSource = Literal["app", "privacy_center", "import"]
# Art. 18(1)(a)-(d), and `other` for a ground given in the request that set it.
RestrictionReason = Literal[
    "accuracy_contested", "unlawful_processing", "legal_claims", "objection_pending", "other"
]
MAX_TEXT_CHARS = 50_000


class ConsentPut(StrictModel):
    granted: bool = Field(description="true grants, false withdraws.")
    policy_version: PolicyVersion
    source: ConsentSource | None = Field(
        default=None,
        description="Where the subject gave or withdrew consent. Default: `app` for apps, "
        "`privacy_center` for the subject itself.",
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The text shown to the subject; stored once, and its SHA-256 recorded.",
    )
    text_hash: Sha256Hex | None = Field(
        default=None, description="SHA-256 (hex) of the text shown, if the text is not sent."
    )

    @model_validator(mode="after")
    def _hash_matches(self) -> ConsentPut:
        if self.text is not None and self.text_hash not in (None, text_hash(self.text)):
            raise ValueError("text_hash is not the SHA-256 of text")
        return self


class ConsentEventRead(ReadModel):
    id: uuid.UUID
    subject_id: uuid.UUID
    seq: int = Field(description="Position in the subject's history, from 1.")
    purpose: str
    granted: bool
    policy_version: str
    source: str
    text_hash: str | None
    actor: str
    at: datetime
    prev_hash: str = Field(description="`hash` of the subject's previous event (64 zeros first).")
    hash: str = Field(description="SHA-256 of this event's canonical form (see README, Consent).")
    text: str | None = Field(default=None, description="Only with `include_text=true`.")


class SignedReceipt(BaseModel):
    receipt: dict[str, Any] = Field(description="What was recorded; this object is signed.")
    key_name: str
    signature: str = Field(description="`vault:v<N>:<base64 ed25519 signature>`")


class ConsentRecorded(BaseModel):
    event: ConsentEventRead
    receipt: SignedReceipt


class ConsentHistory(BaseModel):
    subject_id: uuid.UUID
    items: list[ConsentEventRead]
    next_cursor: str | None = None
    verified: bool = Field(
        description="Whether the subject's whole chain of events (all purposes) holds."
    )
    first_bad_seq: int | None = None
    head_hash: str = Field(description="`hash` of the subject's latest event.")


class ConsentStateRead(BaseModel):
    purpose: str
    legal_basis: str | None
    granted: bool
    policy_version: str | None = None
    event_id: uuid.UUID | None = None
    updated_at: datetime | None = None


class RestrictionPut(StrictModel):
    restricted: bool
    reason: RestrictionReason | None = Field(
        default=None, description="The Art. 18(1) ground; required when restricting."
    )

    @model_validator(mode="after")
    def _reason_when_restricting(self) -> RestrictionPut:
        if self.restricted and self.reason is None:
            raise ValueError("reason is required when restricting")
        return self


class RestrictionRead(BaseModel):
    subject_id: uuid.UUID
    restricted: bool
    reason: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


class ObjectionPut(StrictModel):
    objected: bool


class ObjectionRead(ReadModel):
    subject_id: uuid.UUID
    purpose: str
    objected: bool
    updated_by: str
    updated_at: datetime


class ConsentOverview(BaseModel):
    subject_id: uuid.UUID
    items: list[ConsentStateRead] = Field(
        description="One per consent-based purpose (and any purpose with a recorded event)."
    )
    restriction: RestrictionRead
    objections: list[ObjectionRead]


class ReceiptVerify(StrictModel):
    receipt: dict[str, Any]
    signature: str = Field(max_length=500)
    key_name: str | None = Field(default=None, max_length=100)


class ReceiptVerification(BaseModel):
    valid: bool = Field(description="The signature is the receipt key's over this receipt.")
    key_name: str
    key_version: int | None = None
    in_ledger: bool | None = Field(
        default=None,
        description="For a valid consent receipt: whether its event is still in the ledger "
        "with the same hash (false after the subject was erased).",
    )


class PublicKeyRead(BaseModel):
    name: str
    use: str
    algorithm: str
    versions: dict[str, str] = Field(description="Raw 32-byte public keys, base64, by version.")


class PublicKeys(BaseModel):
    keys: list[PublicKeyRead]
