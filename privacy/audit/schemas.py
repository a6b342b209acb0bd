from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from privacy.schemas import ReadModel


class AuditEntryRead(ReadModel):
    id: int
    seq: int | None = Field(None, description="Position in the hash chain (null: not linked yet).")
    at: datetime
    actor: str
    actor_type: str
    action: str
    outcome: str
    reason: str | None = None
    subject_id: str | None = None
    collection: str | None = None
    record_id: str | None = None
    fields: list[str] | None = None
    purpose: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    hash: str | None = None


class AccessLogItem(BaseModel):
    """One access to a subject's data: who, when, what and why. No values."""

    at: datetime
    actor: str
    actor_type: str
    actor_name: str | None = Field(None, description="The app's name, for app actors.")
    action: str
    outcome: str
    purpose: str | None = None
    collection: str | None = None
    fields: list[str] | None = None


class FindingRead(BaseModel):
    kind: Literal["entry", "seal"]
    code: str = Field(
        description="altered, unauthenticated, hash_mismatch, missing, truncated, "
        "seal_mismatch, bad_signature or checkpoint_chain"
    )
    reason: str
    id: int | None = Field(None, description="The entry's id (null when it is missing).")
    seq: int | None = Field(None, description="Its position in the chain.")
    seal: int | None = Field(None, description="The checkpoint number involved, if any.")


class VerifyRead(BaseModel):
    ok: bool
    checked: int = Field(description="Entries verified (before the first bad one).")
    first_bad: FindingRead | None = None
    reason: str | None = None
    seals_checked: int
    head_seq: int = Field(description="Last chain position read.")
    sealed_seq: int = Field(description="Position covered by the latest checkpoint.")
    pending: int = Field(description="Entries not linked yet (written during the check).")


class CheckpointRead(ReadModel):
    number: int
    kind: Literal["seal", "purge"]
    seq: int
    hash: str
    count: int
    at: datetime
    prev: str
    signature: str
    format: str = "privacy-audit/1"


class PublicKeyRead(BaseModel):
    key_name: str
    algorithm: Literal["ed25519"] = "ed25519"
    format: str = "privacy-audit/1"
    keys: dict[str, str] = Field(
        description="Raw 32-byte public keys, base64, by key version (`vault:v<N>:`)."
    )
