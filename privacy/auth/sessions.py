"""Server-side browser sessions for the web pages, with a synchroniser CSRF token.

The cookie `__Host-privacy-session` (HttpOnly, Secure, SameSite=Strict, Path=/) holds 256
random bits; the database keeps only their SHA-256. A session ends after
PRIVACY_SESSION_IDLE_TIMEOUT without use or PRIVACY_SESSION_MAX_AGE after sign-in,
whichever is first. Every state-changing request made with the cookie must carry the
session's CSRF token in `X-CSRF-Token` (see SECURITY.md for why a synchroniser token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from privacy.auth.models import BrowserSession, User
from privacy.context import Principal
from privacy.db import utcnow
from privacy.errors import Forbidden, Unauthorized
from privacy.runtime import Runtime

COOKIE = "__Host-privacy-session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Write last_seen_at at most this often: idle expiry needs minutes, not every request.
TOUCH_SECONDS = 60


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create(session: Session, rt: Runtime, user: User, *, mfa: bool) -> tuple[str, str, datetime]:
    """Start a session; returns the cookie value, the CSRF token and the absolute end."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(seconds=rt.settings.session_max_age)
    session.add(
        BrowserSession(id_hash=_h(sid), user_id=user.id, csrf_hash=_h(csrf), mfa=mfa,
                       expires_at=expires)
    )  # fmt: skip
    return sid, csrf, expires


def end(session: Session, sid: str) -> None:
    session.exec(delete(BrowserSession).where(col(BrowserSession.id_hash) == _h(sid)))  # type: ignore[call-overload]


def resolve(session: Session, rt: Runtime, sid: str):  # type: ignore[no-untyped-def]
    """The session's user in one query (joined), or 401 when unknown or expired."""
    from privacy.auth.service import Resolved, mfa_restriction

    row = session.execute(
        sa_select(BrowserSession, User)
        .join(User, User.id == BrowserSession.user_id)  # type: ignore[arg-type]
        .where(BrowserSession.id_hash == _h(sid))  # type: ignore[arg-type]
    ).first()
    now = utcnow()
    if row is None:
        raise Unauthorized("the session is unknown or has ended")
    bs, user = row
    idle = timedelta(seconds=rt.settings.session_idle_timeout)
    if bs.expires_at <= now or bs.last_seen_at + idle <= now or not user.is_active:
        raise Unauthorized("the session is unknown or has ended")
    if (now - bs.last_seen_at).total_seconds() > TOUCH_SECONDS:
        bs.last_seen_at = now
    principal = Principal(kind="user", id=str(user.id), roles=frozenset(user.roles))
    claims = {"sid": bs.id_hash, "csrf_hash": bs.csrf_hash}
    return Resolved(principal, claims, restriction=mfa_restriction(rt.settings, user, bs.mfa))


def check_csrf(csrf_hash: str, presented: str | None) -> None:
    if not presented or not hmac.compare_digest(_h(presented), csrf_hash):
        raise Forbidden("a state-changing request with the session cookie needs X-CSRF-Token")
