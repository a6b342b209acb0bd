"""Appending to the access log. Everything that writes audit entries goes through here.

Entries are added to the caller's transaction, so the access and its entry are committed
together or not at all (fail closed). Only names and ids are recorded, never values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from privacy.audit import chain  # noqa: F401  (registers the MAC-on-insert listener)
from privacy.audit.models import AuditEntry
from privacy.context import RequestContext

# "alert": a security event raised by the monitor (privacy.audit.monitor).
ALLOWED_OUTCOMES = {"ok", "denied", "error", "integrity_error", "not_found", "alert"}


def event(
    ctx: RequestContext,
    *,
    action: str,
    outcome: str = "ok",
    subject_id: Any = None,
    collection: str | None = None,
    record_id: Any = None,
    fields: Iterable[str] | None = None,
    purpose: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Describe one audit entry; `append` writes it."""
    if outcome not in ALLOWED_OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    return {
        "actor": ctx.principal.label,
        "actor_type": ctx.principal.kind,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "subject_id": str(subject_id) if subject_id is not None else None,
        "collection": collection,
        "record_id": str(record_id) if record_id is not None else None,
        "fields": sorted(fields) if fields is not None else None,
        "purpose": purpose,
        "request_id": ctx.request_id,
        "client_ip": ctx.client_ip,
    }


def append(session: Session, ctx: RequestContext, **kw: Any) -> AuditEntry:
    """Add one entry to the caller's transaction (its MAC is computed on insert)."""
    entry = AuditEntry(**event(ctx, **kw))
    session.add(entry)
    return entry


def append_event(session: Session, ev: dict[str, Any]) -> AuditEntry:
    entry = AuditEntry(**ev)
    session.add(entry)
    return entry
