"""IP blocks: stored in the database so every replica enforces them, cached briefly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from privacy.db import new_session, utcnow
from privacy.security.models import IpBlock


class BlockList:
    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self._blocked: dict[str, float] = {}  # ip -> expiry (epoch seconds)
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self.refresh_seconds

    def is_blocked(self, ip: str | None) -> bool:
        if not ip:
            return False
        until = self._blocked.get(ip)
        return until is not None and until > time.time()

    def reload(self, engine: Engine) -> None:
        with new_session(engine) as session:
            rows = session.exec(select(IpBlock).where(col(IpBlock.expires_at) > utcnow())).all()
        with self._lock:
            self._blocked = {r.ip: r.expires_at.timestamp() for r in rows}
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded_at = -1e18

    def note(self, ip: str, expires_at: float) -> None:
        with self._lock:
            self._blocked[ip] = expires_at


def block(session: Session, ip: str, *, reason: str, seconds: int) -> IpBlock:
    row = session.get(IpBlock, ip)
    expires = utcnow() + timedelta(seconds=seconds)
    if row is None:
        row = IpBlock(ip=ip, reason=reason[:200], expires_at=expires)
        session.add(row)
    else:
        row.reason, row.expires_at, row.created_at = reason[:200], expires, utcnow()
    return row


def lift(session: Session, ip: str) -> bool:
    result = session.exec(delete(IpBlock).where(col(IpBlock.ip) == ip))  # type: ignore[call-overload]
    return bool(result.rowcount)
