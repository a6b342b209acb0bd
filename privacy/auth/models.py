"""Principals: staff users (admin, dpo, auditor) and apps (OAuth2 clients)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column
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
    # TOTP: the secret sealed with AES-GCM under a Vault-wrapped service key (privacy.auth.mfa);
    # the last accepted time step, so that a code cannot be replayed within its window.
    totp_secret: str | None = Field(default=None, max_length=200)
    mfa_enabled: bool = False
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)


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
    # Overrides PRIVACY_API_RATE_LIMIT for this app ("500/minute"; limits notation).
    rate_limit: str | None = Field(default=None, max_length=64)
    secret_rotated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class RefreshToken(SQLModel, table=True):
    """One opaque refresh token (stored as its SHA-256). Every use replaces it with a new
    token of the same family; presenting a used one again revokes the whole family."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    mfa: bool = False  # the family began with a second factor
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # The family's absolute end: rotation never extends it.
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class RevokedToken(SQLModel, table=True):
    """Access tokens revoked before their expiry (logout): checked on every request."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "mfa_recovery_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class BrowserSession(SQLModel, table=True):
    """A server-side browser session; the cookie holds a random id, stored here hashed."""

    __tablename__ = "browser_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    csrf_hash: str = Field(max_length=64)
    mfa: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
