"""Refresh-token families and the access-token deny-list.

A login starts a family; each refresh marks the presented token used and issues the next
one in the same family, whose absolute end never moves. A used token presented again
means it was copied: the whole family is revoked (OAuth 2.0 Security BCP, 4.14).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from privacy.auth.models import BrowserSession, RefreshToken, RevokedToken
from privacy.db import utcnow


def token_hash(raw: str) -> str:
    # SHA-256 is enough: the token is 256 random bits, not a guessable secret.
    return hashlib.sha256(raw.encode()).hexdigest()


def start_family(session: Session, *, user_id: uuid.UUID, mfa: bool, ttl: int) -> RefreshToken:
    raw = secrets.token_urlsafe(32)
    row = RefreshToken(
        token_hash=token_hash(raw),
        family_id=uuid.uuid4(),
        user_id=user_id,
        mfa=mfa,
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
    session.add(row)
    row.__dict__["raw"] = raw  # handed to the caller once, never stored
    return row


class Reused(Exception):
    """A used or revoked refresh token was presented; the family is revoked."""

    def __init__(self, row: RefreshToken) -> None:
        self.row = row


def rotate(session: Session, raw: str) -> tuple[RefreshToken, str] | None:
    """Spend `raw`; return the next token of its family and its raw value.

    None when the token is unknown, revoked or expired; Reused when it was spent.
    """
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash(raw))
    # Two concurrent refreshes with the same token: the second waits, then sees it used.
    row = session.exec(query.with_for_update()).first()
    if row is None:
        return None
    now = utcnow()
    if row.used_at is not None:
        revoke_family(session, row.family_id)
        raise Reused(row)
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    new_raw = secrets.token_urlsafe(32)
    nxt = RefreshToken(
        token_hash=token_hash(new_raw),
        family_id=row.family_id,
        user_id=row.user_id,
        mfa=row.mfa,
        expires_at=row.expires_at,
    )
    session.add(nxt)
    return nxt, new_raw


def revoke_family(session: Session, family_id: uuid.UUID) -> None:
    session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_user(session: Session, user_id: uuid.UUID) -> None:
    """End every refresh family and browser session of a user (suspension, MFA reset)."""
    session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    session.exec(delete(BrowserSession).where(col(BrowserSession.user_id) == user_id))


def deny(session: Session, *, jti: str, expires_at: datetime) -> None:
    """Put an access token on the deny-list until it would have expired anyway."""
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))


def purge_expired(
    session: Session, now: datetime | None = None, *, session_idle_timeout: int | None = None
) -> int:
    """Delete deny-list entries, refresh tokens, browser sessions and IP blocks past their
    end (browser sessions also after `session_idle_timeout` seconds unused, when given).

    For the scheduler, in the caller's transaction; returns how many rows went. An expired
    access token fails its own `exp` check, so its deny-list entry is no longer needed.
    """
    from privacy.security.models import IpBlock

    now = now or utcnow()
    n = 0
    for model, column in (
        (RevokedToken, RevokedToken.expires_at),
        (RefreshToken, RefreshToken.expires_at),
        (BrowserSession, BrowserSession.expires_at),
        (IpBlock, IpBlock.expires_at),
    ):
        result = session.exec(delete(model).where(col(column) <= now))  # type: ignore[call-overload]
        n += result.rowcount or 0
    if session_idle_timeout is not None:
        cutoff = now - timedelta(seconds=session_idle_timeout)
        result = session.exec(
            delete(BrowserSession).where(col(BrowserSession.last_seen_at) <= cutoff)  # type: ignore[call-overload]
        )
        n += result.rowcount or 0
    return n
