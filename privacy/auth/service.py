"""Users, apps and tokens. The next hardening pass (refresh, MFA, limits) builds on this."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from privacy.audit import service as audit
from privacy.auth import passwords, tokens
from privacy.auth.models import App, User
from privacy.auth.schemas import AppCreate, TokenResponse, UserCreate
from privacy.context import Principal, RequestContext
from privacy.errors import Conflict, InvalidData, Unauthorized
from privacy.keys.service import TOKEN_SIGNING_KEY
from privacy.runtime import Runtime


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    session: Session, rt: Runtime, ctx: RequestContext | None, *, data: UserCreate
) -> User:
    unmet = passwords.policy_violations(data.password)
    if unmet:
        raise InvalidData("the password does not meet the policy: needs " + ", ".join(unmet))
    email = data.email.lower()
    if session.exec(select(User).where(User.email == email)).first():
        raise Conflict("a user with this e-mail address exists")
    user = User(
        email=email,
        password_hash=passwords.hash_password(data.password, rounds=rt.settings.bcrypt_rounds),
        roles=sorted(set(data.roles)),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a user with this e-mail address exists") from None
    if ctx is not None:
        audit.append(session, ctx, action="user.create", reason=f"user:{user.id}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.email)).all())


def login(
    session: Session, rt: Runtime, ctx: RequestContext, *, email: str, password: str
) -> TokenResponse:
    user = session.exec(select(User).where(User.email == email.lower())).first()
    ok = passwords.verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.is_active:
        err = Unauthorized("wrong e-mail address or password")
        # Name the account (by id, never the address) so that the monitor counts failures
        # per account; unknown addresses stay anonymous and count per client IP.
        err.audit = audit.event(
            _as(ctx, "user", str(user.id)) if user else ctx,
            action="auth.login",
            outcome="denied",
            reason="bad_credentials",
        )
        raise err
    audit.append(
        session,
        RequestContext(Principal(kind="user", id=str(user.id)), ctx.request_id, ctx.client_ip),
        action="auth.login",
    )
    return _token(rt, sub=str(user.id), kind="user", roles=user.roles)


def create_app(session: Session, ctx: RequestContext, *, data: AppCreate) -> tuple[App, str]:
    secret = secrets.token_urlsafe(32)
    app = App(
        name=data.name,
        client_id=f"app_{uuid.uuid4().hex[:20]}",
        secret_hash=_secret_hash(secret),
        scopes=sorted(set(data.scopes)),
        webhook_url=str(data.webhook_url) if data.webhook_url else None,
    )
    if session.exec(select(App).where(App.name == data.name)).first():
        raise Conflict("an app with this name exists")
    session.add(app)
    session.flush()
    audit.append(session, ctx, action="app.create", reason=f"app:{app.client_id}")
    return app, secret


def list_apps(session: Session) -> list[App]:
    return list(session.exec(select(App).order_by(App.name)).all())


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
    resp = _token(rt, sub=app.client_id, kind="app", roles=["app"])
    resp.scope = " ".join(app.scopes)
    return resp


def _as(ctx: RequestContext, kind: Literal["user", "app"], ident: str) -> RequestContext:
    """The context of a sign-in attempt as the account it claimed to be."""
    return RequestContext(Principal(kind=kind, id=ident), ctx.request_id, ctx.client_ip)


def _token(rt: Runtime, *, sub: str, kind: str, roles: list[str]) -> TokenResponse:
    ttl = rt.settings.access_token_ttl
    token = tokens.issue(
        rt.token_key, kid=TOKEN_SIGNING_KEY, sub=sub, kind=kind, roles=roles, ttl=ttl
    )
    return TokenResponse(access_token=token, expires_in=ttl)


def resolve_principal(session: Session, rt: Runtime, token: str) -> Principal:
    """Turn a bearer token into the current principal, re-reading it from the database
    so that a deactivated user or suspended app loses access at once."""
    try:
        claims = tokens.verify(rt.token_key, token, kid=TOKEN_SIGNING_KEY)
    except tokens.TokenError:
        raise Unauthorized("the access token is invalid or expired") from None
    if claims.get("kind") == "app":
        app = session.exec(select(App).where(App.client_id == claims["sub"])).first()
        if app is None or not app.is_active:
            raise Unauthorized("the app is unknown or suspended")
        return Principal(
            kind="app",
            id=app.client_id,
            roles=frozenset({"app"}),
            scopes=frozenset(app.scopes),
            token_id=claims["jti"],
        )
    if claims.get("kind") == "user":
        try:
            user = session.get(User, uuid.UUID(claims["sub"]))
        except ValueError:
            user = None
        if user is None or not user.is_active:
            raise Unauthorized("the user is unknown or deactivated")
        return Principal(
            kind="user", id=str(user.id), roles=frozenset(user.roles), token_id=claims["jti"]
        )
    if claims.get("kind") == "subject":
        # A data subject signed in with a mailed code (privacy.subject_auth).
        from privacy.subject_auth.service import resolve_principal as resolve_subject

        return resolve_subject(session, claims)
    raise Unauthorized("the access token is invalid or expired")
