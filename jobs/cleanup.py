"""Scheduled clean-ups of the erasure, webhook and security domains (see
privacy.scheduling.registry). Each is `fn(rt, run) -> counts`, safe to re-run and to run
in several processes: the services they call commit in small steps and lease their work."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col

from privacy.db import new_session, utcnow
from privacy.erasure import replay
from privacy.runtime import Runtime
from privacy.security.models import IpBlock
from privacy.webhooks import service as webhooks


def replay_tombstones(rt: Runtime, run: object) -> dict[str, int]:
    return {"erased": replay.replay_tombstones(rt)}


def destroy_expired_holds(rt: Runtime, run: object) -> dict[str, int]:
    return {"erasures": replay.destroy_expired_holds(rt)}


def deliver_webhooks(rt: Runtime, run: object) -> dict[str, int]:
    return {"attempts": webhooks.deliver_due(rt)}


def purge_ip_blocks(rt: Runtime, run: object) -> dict[str, int]:
    # An expired block no longer applies (privacy.security.blocks); its IP address goes.
    with new_session(rt.engine) as session:
        gone = session.execute(delete(IpBlock).where(col(IpBlock.expires_at) <= utcnow()))
        session.commit()
    return {"deleted": max(gone.rowcount, 0)}  # type: ignore[attr-defined]
