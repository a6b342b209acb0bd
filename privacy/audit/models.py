"""The access log: who did what to whose data, why, and how it ended. Never values.

An entry is inserted by the request that made the access (`seq`, `hash` empty, `mac` set
on insert). The chainer later gives it its place in the chain (`seq`) and its chain hash.
Checkpoints (seals and purge anchors) sign the chain head; see `privacy.audit.canonical`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, text
from sqlmodel import Field, SQLModel

from privacy.db import UtcDateTime, utcnow

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_subject_at", "subject_id", "at"),
        Index("ix_audit_log_seq", "seq", unique=True),
        # The chainer's work queue: small, since entries are linked within a second or so.
        Index(
            "ix_audit_log_unchained",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: int | None = Field(
        default=None,
        # BIGINT on PostgreSQL; SQLite only auto-increments a plain INTEGER key.
        sa_column=Column(_BIGINT, primary_key=True, autoincrement=True),
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    actor: str = Field(max_length=100, index=True)
    actor_type: str = Field(max_length=16)
    action: str = Field(max_length=48, index=True)
    outcome: str = Field(max_length=24)
    reason: str | None = Field(default=None, max_length=200)
    subject_id: str | None = Field(default=None, max_length=36)
    collection: str | None = Field(default=None, max_length=63)
    record_id: str | None = Field(default=None, max_length=36)
    fields: list[str] | None = Field(default=None, sa_column=Column(JSON))
    purpose: str | None = Field(default=None, max_length=63)
    request_id: str | None = Field(default=None, max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)
    # Position in the hash chain, assigned by the chainer (gapless from 1).
    seq: int | None = Field(default=None, sa_column=Column(_BIGINT, nullable=True))
    # Hex SHA-256(previous hash || canonical entry); set with `seq`.
    hash: str | None = Field(default=None, max_length=64)
    # Hex HMAC-SHA256 of the entry's content under a Vault-wrapped service key, set on
    # insert: rows written straight into the database, not by the service, lack a valid one.
    mac: str | None = Field(default=None, max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement about the chain: a seal of its head, or a purge anchor.

    Checkpoints are numbered from 1 and chained (`prev` is the SHA-256 of the previous
    checkpoint's signed payload), and never deleted.
    """

    __tablename__ = "audit_checkpoints"

    number: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=8)  # "seal" | "purge"
    seq: int = Field(sa_column=Column(_BIGINT, nullable=False))
    hash: str = Field(max_length=64)
    count: int = Field(sa_column=Column(_BIGINT, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    prev: str = Field(max_length=64)
    signature: str = Field(max_length=200)
