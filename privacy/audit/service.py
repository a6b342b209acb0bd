"""Appending to the access log. Everything that writes audit entries goes through here.

Entries are added to the caller's transaction, so the access and its entry are committed
together or not at all (fail closed). Only names and ids are recorded, never values.

`append` adds an ORM object (inserted at the next flush, its MAC set by the listener in
`privacy.audit.chain`). The record hot paths use `insert_events` instead: a Core insert,
executed at once, with the same MAC computed here (an ORM unit of work per entry cost
about as much as the rest of a record read). Within one transaction, use one or the
other, so that entries keep the order in which they were made.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert as core_insert
from sqlalchemy.exc import InternalError, OperationalError, ProgrammingError
from sqlmodel import Session

from privacy.audit import canonical as c
from privacy.audit import chain  # (also registers the MAC-on-insert listener)
from privacy.audit.models import AuditEntry
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.errors import AuditUnavailable
from privacy.prepared import Prepared

# The columns an entry from `event` fills, with its time and MAC.
ENTRY_COLUMNS = (
    "actor", "actor_type", "action", "outcome", "reason", "subject_id", "collection",
    "record_id", "fields", "purpose", "request_id", "client_ip", "at", "mac",
)  # fmt: skip
_INSERT = Prepared(core_insert(AuditEntry.__table__), columns=ENTRY_COLUMNS)  # type: ignore[attr-defined]

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


def insert(session: Session, ctx: RequestContext, **kw: Any) -> None:
    """Insert one entry now (see `insert_events`)."""
    insert_events(session, [event(ctx, **kw)])


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Insert entries (from `event`) in one statement, in the caller's transaction.

    Fails closed: without the MAC key nothing is written (RuntimeError), and if the
    database refuses the entries the caller gets AuditUnavailable (503) and its
    transaction must be rolled back, the access with it.
    """
    if not events:
        return
    conn = session.connection()
    key = chain.mac_key_for(conn.engine)
    if key is None:
        raise RuntimeError("the audit MAC key is not loaded (build_runtime loads it)")
    at = utcnow()
    rows = []
    for ev in events:
        row = {**ev, "at": at}
        row["mac"] = c.mac_of(key, c.entry_fragments(SimpleNamespace(**row)))
        rows.append(row)
    try:
        _INSERT.insert(conn, rows)
    except (OperationalError, ProgrammingError, InternalError):
        raise AuditUnavailable(
            "the access could not be written to the audit log; nothing was done"
        ) from None
