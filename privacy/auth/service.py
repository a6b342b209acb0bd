"""Users, apps, sign-in and tokens: passwords, MFA, refresh families, lock-outs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import bindparam, exists
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.auth import keyring, mfa, passwords, refresh, servicekeys, tokens
from privacy.auth.models import App, RevokedToken, User
from privacy.auth.schemas import AppCreate, TokenResponse, UserCreate
from privacy.config import Settings
from privacy.context import Principal, RequestContext
from privacy.db import utcnow
from privacy.errors import Conflict, InvalidData, NotFound, Unauthorized
from privacy.prepared import Prepared
from privacy.runtime import Runtime
from privacy.schemas import page_by_name
from privacy.security.errors import TooManyRequests
from privacy.security.limiter import Guard


def _secret_hash(secret: str) -> str:
    # SHA-256 of a 256-bit random secret: a slow hash adds nothing against guessing a value
    # of that entropy, and would cost ~200 ms of CPU on every token request.
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password_policy(password: str, settings: Settings) -> None:
    unmet = passwords.policy_violations(password, settings)
    if unmet:
        raise InvalidData(
            "the password does not meet the policy: needs " + ", ".join(unmet),
            unmet_rules=unmet,
        )


def hash_password(rt: Runtime, password: str) -> str:
    pepper = servicekeys.key(rt, servicekeys.PASSWORD_PEPPER)
    return passwords.hash_password(password, pepper=pepper, rounds=rt.settings.bcrypt_rounds)


def create_user(
    session: Session, rt: Runtime, ctx: RequestContext | None, *, data: UserCreate
) -> User:
    check_password_policy(data.password, rt.settings)
    # Hash before the first query: on SQLite the session then holds the one connection,
    # and unwrapping the pepper for the first time needs it.
    password_hash = hash_password(rt, data.password)
    email = data.email.lower()
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict("a user with this e-mail address exists")
    user = User(email=email, password_hash=password_hash, roles=sorted(set(data.roles)))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a user with this e-mail address exists") from None
    if ctx is not None:
        audit.append(session, ctx, action="user.create", reason=f"user:{user.id}")
    return user


def list_users(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    """Staff users by email (unique), paged by it."""
    return page_by_name(session, select(User), col(User.email), limit=limit, cursor=cursor)


def _account_key(email: str) -> str:
    # The limiter's key for an account: never the address itself (it may sit in Redis).
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


def authenticate(
    session: Session,
    rt: Runtime,
    guard: Guard,
    ctx: RequestContext,
    *,
    email: str,
    password: str,
    totp: str | None,
) -> tuple[User, bool]:
    """Check a user's password (and second factor); returns the user and whether MFA
    was used. Failed attempts count towards the per-account and per-IP lock-out."""
    account = _account_key(email)
    wait = guard.login_blocked(account, ctx.client_ip)
    if wait is not None:
        err = TooManyRequests(
            "too many failed sign-ins for this account or address; try again later",
            retry_after=wait,
        )
        err.audit = audit.event(ctx, action="security.lockout", outcome="denied", reason="login")
        raise err
    user = session.exec(select(User).where(User.email == email.lower()).with_for_update()).first()
    pepper = servicekeys.key(rt, servicekeys.PASSWORD_PEPPER)
    ok = passwords.verify_password(password, user.password_hash if user else None, pepper=pepper)
    if not ok or user is None or not user.is_active:
        _login_failed(guard, ctx, account, user, "bad_credentials")
    assert user is not None
    used_mfa = False
    if user.mfa_enabled:
        if not totp:
            raise Unauthorized(
                "this account needs a TOTP code or a recovery code", mfa_required=True
            )
        if not mfa.second_factor(session, rt, user, totp):
            _login_failed(guard, ctx, account, user, "bad_second_factor")
        used_mfa = True
    if passwords.needs_rehash(user.password_hash, rounds=rt.settings.bcrypt_rounds):
        # Old format (SHA-256 pre-hash) or old cost: upgrade now that we hold the password.
        user.password_hash = hash_password(rt, password)
    return user, used_mfa


def _login_failed(
    guard: Guard, ctx: RequestContext, account: str, user: User | None, reason: str
) -> None:
    guard.login_failed(account, ctx.client_ip)
    err = Unauthorized(
        "wrong TOTP or recovery code"
        if reason == "bad_second_factor"
        else "wrong e-mail address or password"
    )
    # Name the account (by id, never the address) so that the monitor counts failures
    # per account; unknown addresses stay anonymous and count per client IP.
    err.audit = audit.event(
        _as(ctx, "user", str(user.id)) if user else ctx,
        action="auth.login",
        outcome="denied",
        reason=reason,
    )
    raise err


def login(
    session: Session,
    rt: Runtime,
    guard: Guard,
    ctx: RequestContext,
    *,
    email: str,
    password: str,
    totp: str | None = None,
) -> TokenResponse:
    user, used_mfa = authenticate(
        session, rt, guard, ctx, email=email, password=password, totp=totp
    )
    audit.append(session, _as(ctx, "user", str(user.id)), action="auth.login")
    family = refresh.start_family(
        session, user_id=user.id, mfa=used_mfa, ttl=rt.settings.refresh_token_ttl
    )
    resp = _user_token(session, rt, user, family_id=family.family_id, mfa=used_mfa)
    resp.refresh_token = family.__dict__["raw"]
    return resp


def refresh_tokens(
    session: Session, rt: Runtime, ctx: RequestContext, *, raw: str
) -> TokenResponse:
    try:
        result = refresh.rotate(session, raw)
    except refresh.Reused as reused:
        # Keep the revocation although the request fails: the caller may be the thief.
        session.commit()
        err = Unauthorized("this refresh token was already used; its whole family is revoked")
        err.audit = audit.event(
            _as(ctx, "user", str(reused.row.user_id)),
            action="security.refresh_reuse",
            outcome="denied",
            reason=f"family:{reused.row.family_id}",
        )
        raise err from None
    if result is None:
        err = Unauthorized("the refresh token is invalid or expired")
        err.audit = audit.event(ctx, action="auth.refresh", outcome="denied", reason="invalid")
        raise err
    row, new_raw = result
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the user is unknown or suspended")
    resp = _user_token(session, rt, user, family_id=row.family_id, mfa=row.mfa)
    resp.refresh_token = new_raw
    return resp


def logout(session: Session, ctx: RequestContext, claims: dict[str, Any]) -> None:
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    refresh.deny(session, jti=str(claims["jti"]), expires_at=expires)
    if claims.get("fam"):
        refresh.revoke_family(session, uuid.UUID(str(claims["fam"])))
    audit.append(session, ctx, action="auth.logout")


def _user_token(
    session: Session, rt: Runtime, user: User, *, family_id: uuid.UUID | None, mfa: bool
) -> TokenResponse:
    extra: dict[str, Any] = {"amr": ["pwd", "otp"] if mfa else ["pwd"]}
    if family_id is not None:
        extra["fam"] = str(family_id)
    return _token(session, rt, sub=str(user.id), kind="user", roles=user.roles, **extra)


def create_app(session: Session, ctx: RequestContext, *, data: AppCreate) -> tuple[App, str]:
    secret = secrets.token_urlsafe(32)
    app = App(
        name=data.name,
        client_id=f"app_{uuid.uuid4().hex[:20]}",
        secret_hash=_secret_hash(secret),
        scopes=sorted(set(data.scopes)),
        webhook_url=str(data.webhook_url) if data.webhook_url else None,
        rate_limit=data.rate_limit,
    )
    if session.exec(select(App).where(App.name == data.name)).first():
        raise Conflict("an app with this name exists")
    session.add(app)
    session.flush()
    audit.append(session, ctx, action="app.create", reason=f"app:{app.client_id}")
    return app, secret


def list_apps(session: Session, *, limit: int, cursor: str | None) -> tuple[list[App], str | None]:
    """Apps by name (unique), paged by it."""
    return page_by_name(session, select(App), col(App.name), limit=limit, cursor=cursor)


def _get_app(session: Session, app_id: uuid.UUID) -> App:
    app = session.get(App, app_id)
    if app is None:
        raise NotFound("no such app")
    return app


def rotate_app_secret(session: Session, ctx: RequestContext, app_id: uuid.UUID) -> tuple[App, str]:
    """A new client secret (shown once); the old one stops working at once. Tokens
    already issued stay valid until they expire (15 minutes); suspend to cut them off."""
    app = _get_app(session, app_id)
    secret = secrets.token_urlsafe(32)
    app.secret_hash = _secret_hash(secret)
    app.secret_rotated_at = utcnow()
    audit.append(session, ctx, action="app.secret_rotate", reason=f"app:{app.client_id}")
    return app, secret


def set_app_active(session: Session, ctx: RequestContext, app_id: uuid.UUID, active: bool) -> App:
    app = _get_app(session, app_id)
    app.is_active = active
    action = "app.reactivate" if active else "app.suspend"
    audit.append(session, ctx, action=action, reason=f"app:{app.client_id}")
    return app


def set_user_active(
    session: Session, ctx: RequestContext, user_id: uuid.UUID, active: bool
) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    user.is_active = active
    if not active:
        refresh.revoke_user(session, user.id)
    action = "user.reactivate" if active else "user.suspend"
    audit.append(session, ctx, action=action, reason=f"user:{user.id}")
    return user


def client_credentials(
    session: Session, rt: Runtime, ctx: RequestContext, *, client_id: str, client_secret: str
) -> TokenResponse:
    app = session.exec(select(App).where(App.client_id == client_id)).first()
    expected = app.secret_hash if app else _secret_hash(secrets.token_urlsafe(32))
    if not hmac.compare_digest(expected, _secret_hash(client_secret)) or not (
        app and app.is_active
    ):
        err = Unauthorized("unknown client or wrong secret")
        err.audit = audit.event(
            _as(ctx, "app", app.client_id) if app else ctx,
            action="auth.token",
            outcome="denied",
            reason="bad_client",
        )
        raise err
    resp = _token(session, rt, sub=app.client_id, kind="app", roles=["app"])
    resp.scope = " ".join(app.scopes)
    return resp


def _as(ctx: RequestContext, kind: Literal["user", "app"], ident: str) -> RequestContext:
    """The context of a sign-in attempt as the account it claimed to be."""
    return RequestContext(Principal(kind=kind, id=ident), ctx.request_id, ctx.client_ip)


def _token(
    session: Session, rt: Runtime, *, sub: str, kind: str, roles: list[str], **extra: Any
) -> TokenResponse:
    ttl = rt.settings.access_token_ttl
    kid, key = keyring.for_runtime(rt).signing(session)
    token = tokens.issue(key, kid=kid, sub=sub, kind=kind, roles=roles, ttl=ttl, **extra)
    return TokenResponse(access_token=token, expires_in=ttl)


@dataclass
class Resolved:
    """The caller behind a credential, and what the request may still need to check."""

    principal: Principal
    claims: dict[str, Any] = field(default_factory=dict)
    # "enrol": a user whose role requires MFA without it; only enrolment is open to them.
    restriction: str | None = None
    rate_limit: str | None = None


def mfa_restriction(settings: Settings, user: User, used_mfa: bool) -> str | None:
    required = set(Settings.split(settings.mfa_required_roles))
    if required.intersection(user.roles) and not (user.mfa_enabled and used_mfa):
        return "enrol"
    return None


# Built once (a statement's compiled form is cached on the object): the caller's row and
# the deny-list in one Core query. Columns only, no ORM objects: this runs on every request.
_apps = App.__table__  # type: ignore[attr-defined]
_users = User.__table__  # type: ignore[attr-defined]
_REVOKED = (
    exists()
    .where(RevokedToken.__table__.c.jti == bindparam("jti"))  # type: ignore[attr-defined]
    .label("revoked")
)
# Apps call the hot record routes: run past SQLAlchemy's per-call work (privacy.prepared).
_APP_BY_CLIENT_ID = Prepared(
    sa_select(
        _apps.c.client_id, _apps.c.is_active, _apps.c.scopes, _apps.c.rate_limit, _REVOKED
    ).where(_apps.c.client_id == bindparam("sub"))
)
_USER_BY_ID = sa_select(
    _users.c.id, _users.c.is_active, _users.c.roles, _users.c.mfa_enabled, _REVOKED
).where(_users.c.id == bindparam("sub"))
_REVOKED_ONLY = sa_select(_REVOKED)


# Tokens whose signature this process has checked, by their exact text: checking one costs
# ~0.2 ms of CPU (PyJWT parses it twice and HMACs it), a tenth of a record request. A hit
# still requires the token's key to be one that verifies now (a retired key ends it) and
# the token to be unexpired; the caller and the deny-list are read on every request anyway.
_VERIFIED_MAX = 4096


def _verified_claims(session: Session, rt: Runtime, token: str) -> dict[str, Any]:
    keys = keyring.for_runtime(rt)
    # Per runtime, as its keys are: a token of another service instance never hits.
    seen: dict[str, tuple[str, bytes, dict[str, Any]]] = rt.__dict__.setdefault(
        "_verified_tokens", {}
    )
    hit = seen.get(token)
    if hit is not None:
        kid, key, claims = hit
        current = keys.verifying(session, kid)
        fresh = time.time() < claims["exp"]  # PyJWT's rule: expired once exp <= now
        if fresh and current is not None and hmac.compare_digest(current, key):
            return dict(claims)
        seen.pop(token, None)
    used: list[tuple[str, bytes]] = []

    def lookup(kid: str) -> bytes | None:
        found = keys.verifying(session, kid)
        if found is not None:
            used.append((kid, found))
        return found

    try:
        claims = tokens.verify(lookup, token)
    except tokens.TokenError:
        raise Unauthorized("the access token is invalid or expired") from None
    if len(seen) >= _VERIFIED_MAX:
        seen.clear()
    seen[token] = (*used[-1], dict(claims))
    return claims


def resolve_principal(session: Session, rt: Runtime, token: str) -> Resolved:
    """Turn a bearer token into the current principal with one query, which re-reads the
    user or app (a suspension takes effect at once) and checks the deny-list."""
    claims = _verified_claims(session, rt, token)
    jti = claims["jti"]
    kind = claims.get("kind")
    if kind == "app":
        app = _APP_BY_CLIENT_ID.first(session.connection(), {"sub": claims["sub"], "jti": jti})
        if app is None or not app.is_active:
            raise Unauthorized("the app is unknown or suspended")
        if app.revoked:
            raise Unauthorized("the access token has been revoked")
        principal = Principal(
            kind="app",
            id=app.client_id,
            roles=frozenset({"app"}),
            scopes=frozenset(app.scopes),
            token_id=jti,
        )
        return Resolved(principal, claims, rate_limit=app.rate_limit)
    if kind == "user":
        try:
            user_id = uuid.UUID(claims["sub"])
        except ValueError:
            raise Unauthorized("the access token is invalid or expired") from None
        user = session.connection().execute(_USER_BY_ID, {"sub": user_id, "jti": jti}).first()
        if user is None or not user.is_active:
            raise Unauthorized("the user is unknown or deactivated")
        if user.revoked:
            raise Unauthorized("the access token has been revoked")
        principal = Principal(
            kind="user", id=str(user.id), roles=frozenset(user.roles), token_id=jti
        )
        used_mfa = "otp" in (claims.get("amr") or [])
        # The row has the two attributes mfa_restriction reads (roles, mfa_enabled).
        restriction = mfa_restriction(rt.settings, user, used_mfa)  # type: ignore[arg-type]
        return Resolved(principal, claims, restriction=restriction)
    if kind == "subject":
        # A data subject signed in with a mailed code (privacy.subject_auth).
        from privacy.subject_auth.service import resolve_principal as resolve_subject

        if session.connection().execute(_REVOKED_ONLY, {"jti": jti}).scalar():
            raise Unauthorized("the access token has been revoked")
        return Resolved(resolve_subject(session, claims), claims)
    raise Unauthorized("the access token is invalid or expired")
