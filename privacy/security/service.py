"""What happens after a refusal: counters, violations and IP blocks."""

from __future__ import annotations

from fastapi import Request
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.context import SYSTEM, RequestContext
from privacy.db import utcnow
from privacy.errors import PrivacyError
from privacy.schemas import page_by_name
from privacy.security import blocks, events
from privacy.security.models import IpBlock


def after_refusal(request: Request, session: Session, exc: PrivacyError) -> bool:
    """Count the security event; on a 429, count a violation for the client IP and block
    it when there were too many. Returns True when it added rows to `session`."""
    state = request.app.state
    events.count(request.app, events.classify(exc.status, exc.audit))
    if exc.status != 429:
        return False
    ip = getattr(request.state, "client_ip", None) or (
        request.client.host if request.client else None
    )
    guard = getattr(state, "guard", None)
    if guard is None or not ip or not guard.violation(ip):
        return False
    s = guard.settings
    row = blocks.block(
        session,
        ip,
        reason=f"{s.ip_block_threshold} rate-limit violations in {s.ip_block_window} s",
        seconds=s.ip_block_duration,
    )
    ctx = RequestContext(SYSTEM, getattr(request.state, "request_id", None), ip)
    audit.append(session, ctx, action="security.ip_block", outcome="alert", reason=row.reason)
    state.ip_blocks.note(ip, row.expires_at.timestamp())
    guard.clear_violations(ip)
    events.count(request.app, "ip_blocked")
    return True


def list_active_blocks(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[IpBlock], str | None]:
    """Blocks in force now, by address (the key), paged by it. A block that expires
    between two pages just drops out of the later one."""
    in_force = select(IpBlock).where(col(IpBlock.expires_at) > utcnow())
    return page_by_name(session, in_force, col(IpBlock.ip), limit=limit, cursor=cursor)
