"""Admin view of blocked client addresses."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Request, Response

from privacy.audit import service as audit
from privacy.deps import AdminCtx, SessionDep
from privacy.errors import PROBLEM_RESPONSES, NotFound
from privacy.schemas import Cursor, Limit, Page, ReadModel
from privacy.security import blocks, service

router = APIRouter(prefix="/v1/security", tags=["security"], responses=PROBLEM_RESPONSES)


class IpBlockRead(ReadModel):
    ip: str
    reason: str
    created_at: datetime
    expires_at: datetime


@router.get("/ip-blocks", response_model=Page[IpBlockRead])
def list_blocks(
    session: SessionDep, ctx: AdminCtx, limit: Limit = 50, cursor: Cursor = None
) -> Page[IpBlockRead]:
    """Client addresses blocked now, by address (admin only)."""
    rows, next_cursor = service.list_active_blocks(session, limit=limit, cursor=cursor)
    return Page(items=[IpBlockRead.model_validate(b) for b in rows], next_cursor=next_cursor)


@router.delete("/ip-blocks/{ip}", status_code=204)
def lift_block(
    request: Request,
    session: SessionDep,
    ctx: AdminCtx,
    ip: str = Path(max_length=64, pattern=r"^[0-9A-Fa-f:.]+$"),
) -> Response:
    """Lift a block at once on this replica (others within PRIVACY_IP_BLOCK_REFRESH)."""
    if not blocks.lift(session, ip):
        raise NotFound("this address is not blocked")
    audit.append(session, ctx, action="security.ip_unblock", reason=f"ip:{ip}")
    request.app.state.ip_blocks.invalidate()
    request.app.state.guard.clear_violations(ip)
    return Response(status_code=204)
