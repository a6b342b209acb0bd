from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from sqlalchemy import delete
from sqlmodel import col

from privacy.audit import service as audit
from privacy.auth import keyring, mfa, service
from privacy.auth import sessions as browser
from privacy.auth.models import BrowserSession, User
from privacy.auth.schemas import (
    AppCreate,
    AppCreated,
    AppRead,
    ClientCredentials,
    LoginRequest,
    RefreshRequest,
    SessionCreated,
    TokenResponse,
    TotpConfirm,
    TotpEnabled,
    TotpStarted,
    UserCreate,
    UserRead,
)
from privacy.deps import AdminCtx, AnonymousCtx, Ctx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES, BadRequest, Forbidden, InvalidData
from privacy.schemas import Cursor, Limit, Page
from privacy.security.limiter import Guard

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)


def get_guard(request: Request) -> Guard:
    return request.app.state.guard


GuardDep = Annotated[Guard, Depends(get_guard)]


@router.post("/auth/login", response_model=TokenResponse)
def login(
    body: LoginRequest, session: SessionDep, rt: RuntimeDep, guard: GuardDep, ctx: AnonymousCtx
) -> TokenResponse:
    """Sign a user in with e-mail, password and (when enrolled) a TOTP or recovery code."""
    return service.login(
        session, rt, guard, ctx, email=body.email, password=body.password, totp=body.totp
    )


@router.post("/auth/refresh", response_model=TokenResponse)
def refresh(
    body: RefreshRequest, session: SessionDep, rt: RuntimeDep, ctx: AnonymousCtx
) -> TokenResponse:
    """Exchange a refresh token for a new pair; the old one is dead from now on."""
    return service.refresh_tokens(session, rt, ctx, raw=body.refresh_token)


@router.post("/auth/logout", status_code=204)
def logout(request: Request, session: SessionDep, ctx: Ctx) -> Response:
    """Revoke the presented access token (until it expires) and its refresh family, or
    end the browser session."""
    claims = request.state.claims
    if "sid" in claims:
        session.exec(delete(BrowserSession).where(col(BrowserSession.id_hash) == claims["sid"]))  # type: ignore[call-overload]
        audit.append(session, ctx, action="auth.logout")
    else:
        service.logout(session, ctx, claims)
    resp = Response(status_code=204)
    resp.delete_cookie(browser.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return resp


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": ClientCredentials.model_json_schema()},
            "application/json": {"schema": ClientCredentials.model_json_schema()},
        },
    }
}


async def _credentials(request: Request) -> ClientCredentials:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        raw: object = dict((await request.form()).items())
    elif ctype == "application/json":
        try:
            raw = json.loads(await request.body())
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
    else:
        raise BadRequest("send the credentials as a form or as JSON")
    try:
        return ClientCredentials.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
        raise InvalidData(f"invalid client-credentials request: {fields}") from None


@router.post("/auth/token", response_model=TokenResponse, openapi_extra=_TOKEN_BODY)
def token(
    creds: Annotated[ClientCredentials, Depends(_credentials)],
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AnonymousCtx,
) -> TokenResponse:
    """OAuth2 client-credentials grant for apps (form or JSON)."""
    return service.client_credentials(
        session, rt, ctx, client_id=creds.client_id, client_secret=creds.client_secret
    )


def _me(session: SessionDep, ctx: Ctx) -> User:
    if ctx.principal.kind != "user":
        raise Forbidden("only staff users enrol MFA")
    user = session.get(User, uuid.UUID(ctx.principal.id))
    assert user is not None  # the principal was resolved from this row in this request
    return user


@router.post("/auth/mfa/totp", response_model=TotpStarted)
def totp_start(session: SessionDep, rt: RuntimeDep, ctx: Ctx) -> TotpStarted:
    """Start TOTP enrolment: a new secret and its otpauth:// URI (for a QR code)."""
    user = _me(session, ctx)
    secret, uri = mfa.start(rt, user)
    audit.append(session, ctx, action="auth.mfa_start")
    return TotpStarted(secret=secret, otpauth_uri=uri)


@router.post("/auth/mfa/totp/confirm", response_model=TotpEnabled)
def totp_confirm(body: TotpConfirm, session: SessionDep, rt: RuntimeDep, ctx: Ctx) -> TotpEnabled:
    """Turn TOTP on with a first code; returns one-time recovery codes (shown once)."""
    user = _me(session, ctx)
    codes = mfa.confirm(session, rt, user, body.code)
    audit.append(session, ctx, action="auth.mfa_enable")
    return TotpEnabled(recovery_codes=codes)


@router.post("/auth/session", response_model=SessionCreated, status_code=201)
def session_login(
    body: LoginRequest,
    response: Response,
    session: SessionDep,
    rt: RuntimeDep,
    guard: GuardDep,
    ctx: AnonymousCtx,
) -> SessionCreated:
    """Sign in for the web pages: sets the `__Host-privacy-session` cookie and returns the
    CSRF token to send as X-CSRF-Token."""
    user, used_mfa = service.authenticate(
        session, rt, guard, ctx, email=body.email, password=body.password, totp=body.totp
    )
    sid, csrf, expires = browser.create(session, rt, user, mfa=used_mfa)
    audit.append(session, service._as(ctx, "user", str(user.id)), action="auth.session")
    response.set_cookie(
        browser.COOKIE,
        sid,
        max_age=rt.settings.session_max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return SessionCreated(csrf_token=csrf, expires_at=expires)


@router.delete("/auth/session", status_code=204)
def session_logout(request: Request, session: SessionDep, ctx: Ctx) -> Response:
    """End the browser session (needs X-CSRF-Token like every state-changing request)."""
    sid = request.state.claims.get("sid")
    if sid is None:
        raise BadRequest("this request was not made with a session cookie")
    session.exec(delete(BrowserSession).where(col(BrowserSession.id_hash) == sid))  # type: ignore[call-overload]
    audit.append(session, ctx, action="auth.logout")
    resp = Response(status_code=204)
    resp.delete_cookie(browser.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return resp


@router.post("/users", status_code=201, response_model=UserRead)
def create_user(body: UserCreate, session: SessionDep, rt: RuntimeDep, ctx: AdminCtx) -> UserRead:
    """Create a staff user (admin only)."""
    return UserRead.model_validate(service.create_user(session, rt, ctx, data=body))


@router.get("/users", response_model=Page[UserRead])
def list_users(
    session: SessionDep, ctx: AdminCtx, limit: Limit = 50, cursor: Cursor = None
) -> Page[UserRead]:
    """List staff users by email (admin only)."""
    rows, next_cursor = service.list_users(session, limit=limit, cursor=cursor)
    return Page(items=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("/users/{user_id}/suspend", response_model=UserRead)
def suspend_user(user_id: uuid.UUID, session: SessionDep, ctx: AdminCtx) -> UserRead:
    """Suspend a user: their tokens, refresh tokens and sessions stop working at once."""
    return UserRead.model_validate(service.set_user_active(session, ctx, user_id, False))


@router.post("/users/{user_id}/reactivate", response_model=UserRead)
def reactivate_user(user_id: uuid.UUID, session: SessionDep, ctx: AdminCtx) -> UserRead:
    """Lift a user's suspension (they sign in again)."""
    return UserRead.model_validate(service.set_user_active(session, ctx, user_id, True))


@router.post("/apps", status_code=201, response_model=AppCreated)
def create_app(body: AppCreate, session: SessionDep, ctx: AdminCtx) -> AppCreated:
    """Register an app; its client secret is shown once."""
    app, secret = service.create_app(session, ctx, data=body)
    return AppCreated(**AppRead.model_validate(app).model_dump(), client_secret=secret)


@router.get("/apps", response_model=Page[AppRead])
def list_apps(
    session: SessionDep, ctx: AdminCtx, limit: Limit = 50, cursor: Cursor = None
) -> Page[AppRead]:
    """List registered apps by name (admin only)."""
    rows, next_cursor = service.list_apps(session, limit=limit, cursor=cursor)
    return Page(items=[AppRead.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.post("/apps/{app_id}/secret", response_model=AppCreated)
def rotate_app_secret(app_id: uuid.UUID, session: SessionDep, ctx: AdminCtx) -> AppCreated:
    """Issue a new client secret (shown once); the old one stops working at once."""
    app, secret = service.rotate_app_secret(session, ctx, app_id)
    return AppCreated(**AppRead.model_validate(app).model_dump(), client_secret=secret)


@router.post("/apps/{app_id}/suspend", response_model=AppRead)
def suspend_app(app_id: uuid.UUID, session: SessionDep, ctx: AdminCtx) -> AppRead:
    """Suspend an app: its tokens stop working on the next request."""
    return AppRead.model_validate(service.set_app_active(session, ctx, app_id, False))


@router.post("/apps/{app_id}/reactivate", response_model=AppRead)
def reactivate_app(app_id: uuid.UUID, session: SessionDep, ctx: AdminCtx) -> AppRead:
    """Lift an app's suspension."""
    return AppRead.model_validate(service.set_app_active(session, ctx, app_id, True))


@router.post("/keys/token-signing/rotate", tags=["keys"])
def rotate_token_key(rt: RuntimeDep, ctx: AdminCtx, session: SessionDep) -> dict[str, str]:
    """Start signing access tokens with a new key; the previous key still verifies."""
    kid = keyring.rotate(rt.engine, rt.transit, vault_key=rt.settings.service_key_name)
    keyring.for_runtime(rt).reload(session)
    audit.append(session, ctx, action="keys.token_rotate", reason=kid)
    return {"kid": kid}
