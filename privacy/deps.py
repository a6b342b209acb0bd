"""Named dependencies: a route's signature says what it needs and who may call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import InternalError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlmodel import Session

from privacy.audit import service as audit
from privacy.config import Settings
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.errors import (
    AuditUnavailable,
    Forbidden,
    PrivacyError,
    ServiceUnavailable,
    Unauthorized,
)
from privacy.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings_dep(rt: RuntimeDep) -> Settings:
    return rt.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(request: Request, rt: RuntimeDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    A refused request rolls back everything it did, then records the refusal (errors carry
    their audit event) in a transaction of its own; if even that fails, the caller gets 503.
    """
    session = new_session(rt.engine)
    try:
        yield session
        try:
            session.commit()
        except (OperationalError, ProgrammingError, InternalError):
            # The work and its audit entry commit together or not at all (fail closed):
            # whichever part the database refused, the caller learns nothing happened.
            session.rollback()
            raise ServiceUnavailable(
                "the change and its audit entry could not be committed; nothing was changed"
            ) from None
    except PrivacyError as exc:
        session.rollback()
        from privacy.security.service import after_refusal

        # Security counters; a 429 may also block the client IP (rows added to `session`).
        blocked = after_refusal(request, session, exc)
        if exc.audit is not None or blocked:
            try:
                if exc.audit is not None:
                    audit.append_event(session, exc.audit)
                session.commit()
            except SQLAlchemyError:
                session.rollback()
                raise AuditUnavailable(
                    "the refusal could not be written to the audit log"
                ) from None
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a failed commit is what the
# client sees (never a 2xx for work that was rolled back).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from /v1/auth/*")


def client_ip(request: Request) -> str | None:
    # Set by privacy.security.gate: the peer, or the client a trusted proxy forwarded for.
    ip = getattr(request.state, "client_ip", None)
    if ip is None and request.client:
        ip = request.client.host
    return ip


# What a user whose role requires MFA may do before enrolling.
MFA_ENROL_PATHS = {"/v1/auth/mfa/totp", "/v1/auth/mfa/totp/confirm", "/v1/auth/logout"}


def get_principal(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    from privacy.auth import sessions as browser
    from privacy.auth.service import resolve_principal
    from privacy.security.errors import TooManyRequests

    cookie = request.cookies.get(browser.COOKIE)
    if creds is not None and creds.scheme.lower() == "bearer":
        resolved = resolve_principal(session, rt, creds.credentials)
    elif creds is None and cookie:
        resolved = browser.resolve(session, rt, cookie)
        if request.method not in browser.SAFE_METHODS:
            browser.check_csrf(resolved.claims["csrf_hash"], request.headers.get("x-csrf-token"))
    else:
        raise Unauthorized("a bearer access token is required")
    # End the read-only lookup so that its connection goes back to the pool: on SQLite
    # there is one, and work that opens its own transactions (key rotation) needs it.
    session.commit()
    principal = resolved.principal
    request.state.principal = principal
    request.state.claims = resolved.claims
    ctx = RequestContext(principal, getattr(request.state, "request_id", None), client_ip(request))
    if resolved.restriction == "enrol" and request.url.path not in MFA_ENROL_PATHS:
        err = Forbidden(
            "your role requires MFA: enrol TOTP (POST /v1/auth/mfa/totp), then sign in "
            "again with a code"
        )
        err.audit = audit.event(ctx, action="authz.mfa", outcome="denied", reason="mfa_enrol")
        raise err
    wait = request.app.state.guard.api_hit(principal.label, resolved.rate_limit)
    if wait is not None:
        err = TooManyRequests("too many requests; slow down", retry_after=wait)
        err.audit = audit.event(ctx, action="security.rate_limit", outcome="denied", reason="api")
        raise err
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_context(request: Request, principal: CurrentPrincipal) -> RequestContext:
    return RequestContext(
        principal=principal,
        request_id=getattr(request.state, "request_id", None),
        client_ip=client_ip(request),
    )


def get_anonymous_context(request: Request) -> RequestContext:
    return RequestContext(
        principal=Principal(kind="user", id="anonymous"),
        request_id=getattr(request.state, "request_id", None),
        client_ip=client_ip(request),
    )


Ctx = Annotated[RequestContext, Depends(get_context)]
AnonymousCtx = Annotated[RequestContext, Depends(get_anonymous_context)]


def require_roles(*roles: str):
    def _check(ctx: Ctx) -> RequestContext:
        if not ctx.principal.has_role(*roles):
            err = Forbidden(f"this operation needs one of the roles: {', '.join(roles)}")
            err.audit = audit.event(ctx, action="authz.role", outcome="denied", reason="role")
            raise err
        return ctx

    return Depends(_check)


AdminCtx = Annotated[RequestContext, require_roles("admin")]
AdminOrDpoCtx = Annotated[RequestContext, require_roles("admin", "dpo")]
CatalogReaderCtx = Annotated[RequestContext, require_roles("admin", "dpo", "app")]
AppCtx = Annotated[RequestContext, require_roles("app")]
AppOrDpoCtx = Annotated[RequestContext, require_roles("app", "dpo")]
