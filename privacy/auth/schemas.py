from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, EmailStr, Field, StringConstraints

from privacy.schemas import ReadModel, StrictModel

Role = Literal["admin", "dpo", "auditor"]
# See privacy.context.Principal for what each scope grants.
Scope = Annotated[
    str,
    StringConstraints(
        pattern=r"^(subjects:(read|write)|collections:read"
        r"|records:(read|write|delete|\*):([a-z][a-z0-9_\-]{0,62}|\*)"
        r"|purpose:([a-z][a-z0-9_\-]{0,62}|\*))$"
    ),
]


class LoginRequest(StrictModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(
        default=None, max_length=12, description="A TOTP code or a one-time recovery code."
    )


class RefreshRequest(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class TotpStarted(ReadModel):
    secret: str = Field(description="Base32 secret for the authenticator app; shown once.")
    otpauth_uri: str


class TotpConfirm(StrictModel):
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class TotpEnabled(ReadModel):
    recovery_codes: list[str] = Field(description="One-time codes; shown once, store them.")


class SessionCreated(ReadModel):
    csrf_token: str = Field(
        description="Send as X-CSRF-Token on every state-changing request made with the "
        "session cookie."
    )
    expires_at: datetime


class TokenResponse(ReadModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


class ClientCredentials(StrictModel):
    grant_type: Literal["client_credentials"]
    client_id: str = Field(min_length=1, max_length=64)
    client_secret: str = Field(min_length=1, max_length=256)


class UserCreate(StrictModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    roles: list[Role] = Field(min_length=1, max_length=3)


class UserRead(ReadModel):
    id: uuid.UUID
    email: str
    roles: list[str]
    is_active: bool
    created_at: datetime


def _rate_limit(value: str | None) -> str | None:
    if value is None:
        return None
    from limits import parse

    try:
        parse(value)
    except ValueError:
        raise ValueError("not a rate limit such as 500/minute") from None
    return value


class AppCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .\-]+$")
    scopes: list[Scope] = Field(default_factory=list, max_length=200)
    webhook_url: AnyHttpUrl | None = None
    rate_limit: Annotated[str | None, AfterValidator(_rate_limit)] = Field(
        default=None,
        max_length=64,
        description="Requests allowed to this app, e.g. 500/minute (default: "
        "PRIVACY_API_RATE_LIMIT).",
    )


class AppRead(ReadModel):
    id: uuid.UUID
    name: str
    client_id: str
    scopes: list[str]
    webhook_url: str | None
    is_active: bool
    created_at: datetime
    rate_limit: str | None = None
    secret_rotated_at: datetime | None = None


class AppCreated(AppRead):
    client_secret: str = Field(description="Shown once; store it now.")
