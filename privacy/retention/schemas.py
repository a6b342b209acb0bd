from __future__ import annotations

from pydantic import BaseModel, Field


class PolicyRead(BaseModel):
    id: str
    description: str
    collections: list[str]
    categories: list[str]
    purposes: list[str]
    data: str | None = Field(description="One of the service's own data sets, instead of a scope.")
    period: str = Field(description="ISO 8601 duration, added in UTC with calendar arithmetic.")
    trigger: str
    action: str
    fields: list[str]


class HoldRead(BaseModel):
    id: str
    description: str
    collections: list[str]
    categories: list[str]
    purposes: list[str]
    period: str | None = Field(description="Kept this long after creation; null: until lifted.")
    ground: str


class PoliciesRead(BaseModel):
    source: str = Field(description="The retention file in force, or the shipped defaults.")
    policies: list[PolicyRead]
    holds: list[HoldRead]


class HeldByRead(BaseModel):
    hold: str
    ground: str
    count: int


class PolicyOutcomeRead(BaseModel):
    id: str
    action: str
    matched: int = Field(description="Expired and in scope when the run started.")
    purged: int = Field(description="Purged; on a dry run, what would be purged.")
    held: int = Field(description="Kept by a legal hold.")
    held_by: list[HeldByRead]
    data: str | None = None
    enforced: bool = Field(
        description="False for a service data set that no purger in this build handles."
    )
    error: str | None = Field(None, description="Why this policy failed (the others still ran).")


class PurgeRead(BaseModel):
    dry_run: bool
    at: str
    policies: list[PolicyOutcomeRead]
