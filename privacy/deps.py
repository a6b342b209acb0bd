"""Named dependencies: a route's signature says what it needs and who may call it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

if TYPE_CHECKING:
    from privacy.auth.service import Resolved


T = TypeVar("T")

# The dependencies that do no I/O are `async def`: FastAPI runs a sync dependency in the
# threadpool, and each such trip (a limiter acquire, a queue hand-off, a thread wake-up,
# the GIL changing hands) cost more than the work of all of them together.


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings_dep(rt: RuntimeDep) -> Settings:
    return rt.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


@contextmanager
def request_transaction(request: Request, rt: Runtime) -> Iterator[Session]:
    """One transaction per request: committed when the work returns, rolled back on error.

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


def get_session(request: Request, rt: RuntimeDep) -> Iterator[Session]:
    with request_transaction(request, rt) as session:
        yield session


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


def _resolve(
    request: Request, session: Session, rt: Runtime, creds: HTTPAuthorizationCredentials | None
) -> Resolved:
    """The caller behind the request's bearer token or browser session: one query, which
    re-reads the user or app and checks the deny-list (privacy.auth.service)."""
    from privacy.auth import sessions as browser
    from privacy.auth.service import resolve_principal

    cookie = request.cookies.get(browser.COOKIE)
    if creds is not None and creds.scheme.lower() == "bearer":
        return resolve_principal(session, rt, creds.credentials)
    if creds is None and cookie:
        resolved = browser.resolve(session, rt, cookie)
        if request.method not in browser.SAFE_METHODS:
            try:
                browser.check_csrf(
                    resolved.claims["csrf_hash"], request.headers.get("x-csrf-token")
                )
            except Forbidden as err:
                # A forged cross-site request is an attack on this user: on the record.
                ctx = RequestContext(
                    resolved.principal,
                    getattr(request.state, "request_id", None),
                    client_ip(request),
                )
                err.audit = audit.event(ctx, action="security.csrf", outcome="denied")
                raise
        return resolved
    raise Unauthorized("a bearer access token is required")


def _admit(request: Request, resolved: Resolved) -> RequestContext:
    """What is checked of a resolved caller before any route runs: MFA enrolment and the
    per-principal rate limit. Returns the request's context."""
    from privacy.security.errors import TooManyRequests

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
    return ctx


def get_principal(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    resolved = _resolve(request, session, rt, creds)
    # End the read-only lookup so that its connection goes back to the pool: on SQLite
    # there is one, and work that opens its own transactions (key rotation) needs it.
    # (The hot routes, through `Transaction`, keep it: their work is in this transaction.)
    session.commit()
    return _admit(request, resolved).principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_context(request: Request, principal: CurrentPrincipal) -> RequestContext:
    return RequestContext(
        principal=principal,
        request_id=getattr(request.state, "request_id", None),
        client_ip=client_ip(request),
    )


async def get_anonymous_context(request: Request) -> RequestContext:
    return RequestContext(
        principal=Principal(kind="user", id="anonymous"),
        request_id=getattr(request.state, "request_id", None),
        client_ip=client_ip(request),
    )


Ctx = Annotated[RequestContext, Depends(get_context)]
AnonymousCtx = Annotated[RequestContext, Depends(get_anonymous_context)]


def _check_roles(ctx: RequestContext, roles: tuple[str, ...]) -> RequestContext:
    if not ctx.principal.has_role(*roles):
        err = Forbidden(f"this operation needs one of the roles: {', '.join(roles)}")
        err.audit = audit.event(ctx, action="authz.role", outcome="denied", reason="role")
        raise err
    return ctx


def require_roles(*roles: str):
    async def _check(ctx: Ctx) -> RequestContext:
        return _check_roles(ctx, roles)

    return Depends(_check)


AdminCtx = Annotated[RequestContext, require_roles("admin")]
AdminOrDpoCtx = Annotated[RequestContext, require_roles("admin", "dpo")]
CatalogReaderCtx = Annotated[RequestContext, require_roles("admin", "dpo", "app")]
AppCtx = Annotated[RequestContext, require_roles("app")]
AppOrDpoCtx = Annotated[RequestContext, require_roles("app", "dpo")]


class Transaction:
    """A request's whole database work in ONE trip to a transaction thread, for the hot
    routes: the session, the caller (the same one query: suspension and deny-list are
    checked on every request), the MFA, rate-limit and role checks, the route's work, and
    the commit, all before the response is sent, with the refusal handling of
    `request_transaction`. The dependency route takes four trips for the same work
    (session in, principal, endpoint, session out) and a second transaction for the
    principal lookup.
    """

    def __init__(
        self,
        request: Request,
        rt: Runtime,
        creds: HTTPAuthorizationCredentials | None,
        roles: tuple[str, ...],
    ) -> None:
        self.request = request
        self.rt = rt
        self.creds = creds
        self.roles = roles

    async def run(self, work: Callable[..., T], /, **kwargs: Any) -> T:
        """`work(session, rt, ctx, **kwargs)` on the runtime's transaction threads; its
        result once committed."""
        return await self.rt.tx_threads.run(self._run, work, kwargs)

    def _run(self, work: Callable[..., T], kwargs: dict[str, Any]) -> T:
        with request_transaction(self.request, self.rt) as session:
            ctx = _admit(self.request, _resolve(self.request, session, self.rt, self.creds))
            _check_roles(ctx, self.roles)
            return work(session, self.rt, ctx, **kwargs)


def _nothing(session: Session, rt: Runtime, ctx: RequestContext) -> None:
    return None


def transaction(*roles: str):
    """`Annotated[Transaction, transaction("app")]`: a route body run by `Transaction`,
    open to callers with one of `roles`."""

    async def _dep(
        request: Request,
        rt: RuntimeDep,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Transaction:
        from privacy.auth.sessions import COOKIE

        tx = Transaction(request, rt, creds, roles)
        if creds is None and COOKIE not in request.cookies:
            # No credential at all: refused now (401, through the usual refusal handling),
            # before FastAPI validates the body, as the dependency routes do.
            await tx.run(_nothing)
        return tx

    return Depends(_dep)


AppTx = Annotated[Transaction, transaction("app")]
