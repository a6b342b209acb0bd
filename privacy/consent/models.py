"""Consent events (append-only, hash-linked per subject), the current state they lead to,
and the subject-level restriction (Art. 18) and objection (Art. 21) states."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Text, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow


def _subject_fk(*, primary_key: bool = False) -> Column:
    return Column(
        Uuid,
        ForeignKey("subjects.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
        index=not primary_key,
    )


class ConsentEvent(SQLModel, table=True):
    """One grant or withdrawal. Never updated or deleted (except with its subject).

    `prev_hash` is the `hash` of the subject's previous event (`GENESIS` for the first), so
    an edited, removed or reordered event breaks the chain (see `privacy.consent.proof`).
    """

    __tablename__ = "consent_events"
    __table_args__ = (UniqueConstraint("subject_id", "seq", name="uq_consent_events_subject_seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subject_id: uuid.UUID = Field(sa_column=_subject_fk())
    seq: int = Field(description="1, 2, ... per subject")
    purpose: str = Field(max_length=63)
    granted: bool
    policy_version: str = Field(max_length=32)
    source: str = Field(max_length=16)
    # SHA-256 (hex) of the consent text shown to the subject; the text is in consent_texts.
    text_hash: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=100)
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ConsentText(SQLModel, table=True):
    """Texts shown to subjects, stored once each and keyed by their SHA-256."""

    __tablename__ = "consent_texts"

    hash: str = Field(primary_key=True, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ConsentState(SQLModel, table=True):
    """The latest event per (subject, purpose): what reads are checked against."""

    __tablename__ = "consent_state"

    subject_id: uuid.UUID = Field(sa_column=_subject_fk(primary_key=True))
    purpose: str = Field(primary_key=True, max_length=63)
    granted: bool
    policy_version: str = Field(max_length=32)
    event_id: uuid.UUID
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Restriction(SQLModel, table=True):
    """Art. 18: while `restricted`, the subject's records are read only for `legal_claims`."""

    __tablename__ = "subject_restrictions"

    subject_id: uuid.UUID = Field(sa_column=_subject_fk(primary_key=True))
    restricted: bool
    # One of the Art. 18(1) grounds (see schemas.RestrictionGround); no free text here.
    ground: str = Field(max_length=32)
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Objection(SQLModel, table=True):
    """Art. 21: an objection to one legitimate-interest or public-task purpose."""

    __tablename__ = "subject_objections"

    subject_id: uuid.UUID = Field(sa_column=_subject_fk(primary_key=True))
    purpose: str = Field(primary_key=True, max_length=63)
    objected: bool
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
