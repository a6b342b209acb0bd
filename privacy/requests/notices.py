"""Art. 19: tell the apps that hold a subject about a rectification, a restriction or an
objection (and about lifting them). Erasure notifies them itself (privacy.erasure).

Notices go through `privacy.webhooks.service.notify_holding_apps`: queued in the
request's transaction, signed and sent once it commits, retried with backoff. They carry
ids, field names and states, never values.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from privacy.requests.models import DataSubjectRequest
from privacy.runtime import Runtime
from privacy.webhooks.service import notify_holding_apps

NOTIFIED = ("rectification", "restriction", "objection")


def _event(req: DataSubjectRequest) -> tuple[str, dict[str, Any]] | None:
    result = req.result or {}
    if req.type == "rectification":
        return "subject.rectified", {"fields": result.get("rectified", {})}
    if req.type == "restriction":
        restricted = bool(result.get("restricted"))
        event = "subject.restricted" if restricted else "subject.restriction_lifted"
        return event, {"restricted": restricted, "ground": result.get("ground")}
    if req.type == "objection":
        objected = bool(result.get("objected"))
        event = "subject.objected" if objected else "subject.objection_lifted"
        return event, {"purpose": result.get("purpose"), "objected": objected}
    return None


def notify(session: Session, rt: Runtime, req: DataSubjectRequest) -> int:
    """Queue the notice for a completed request; how many apps will get it."""
    found = _event(req)
    if found is None:
        return 0
    event, details = found
    return notify_holding_apps(
        session, rt, req.subject_id, event, {"request_id": str(req.id), **details}
    )
