"""Reading the log: filtered pages, streamed exports, and a subject's access history.

Reading the log is itself recorded (it shows who touched whose data), in the caller's
transaction like every other access.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from privacy.audit import canonical as c
from privacy.audit import service as audit
from privacy.audit.models import AuditCheckpoint, AuditEntry
from privacy.audit.schemas import AccessLogItem
from privacy.audit.walk import ROW_COLUMNS
from privacy.auth.models import App
from privacy.context import Principal, RequestContext
from privacy.errors import Forbidden
from privacy.schemas import decode_cursor, page_of

EXPORT_BATCH = 2000
CSV_COLUMNS = (
    "seq",
    "id",
    "at",
    "actor",
    "actor_type",
    "action",
    "outcome",
    "subject_id",
    "collection",
    "record_id",
    "fields",
    "purpose",
    "reason",
    "request_id",
    "client_ip",
    "hash",
    "mac",
)


@dataclass(frozen=True)
class AuditFilter:
    subject_id: str | None = None
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "*" ("record.*")
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def names(self) -> str:
        used = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        return "filters=" + (",".join(used) or "none")

    def apply(self, query: Any) -> Any:
        e = AuditEntry
        if self.subject_id is not None:
            query = query.where(e.subject_id == self.subject_id)
        if self.actor is not None:
            query = query.where(e.actor == self.actor)
        if self.action is not None:
            if self.action.endswith("*"):
                query = query.where(col(e.action).startswith(self.action[:-1], autoescape=True))
            else:
                query = query.where(e.action == self.action)
        if self.outcome is not None:
            query = query.where(e.outcome == self.outcome)
        if self.since is not None:
            query = query.where(col(e.at) >= self.since)
        if self.until is not None:
            query = query.where(col(e.at) < self.until)
        return query


def list_entries(
    session: Session, ctx: RequestContext, *, where: AuditFilter, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    """Entries matching `where`, newest first."""
    query = where.apply(select(AuditEntry))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(col(AuditEntry.id) < int(after))
    rows = list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit + 1)).all())
    page, next_cursor = page_of(rows, limit, lambda r: r.id)
    audit.append(
        session, ctx, action="audit.query", subject_id=where.subject_id, reason=where.names()
    )
    return page, next_cursor


# --- export ------------------------------------------------------------------------------


def _entry_line(row: Any) -> dict[str, Any]:
    out = dict(zip(ROW_COLUMNS, row, strict=True))
    at = out["at"]
    out["at"] = c.text_time(at) if isinstance(at, str) else c.format_time(at)
    if isinstance(out["fields"], str):
        out["fields"] = json.loads(out["fields"])
    out["type"] = "entry"
    return out


def checkpoint_line(cp: AuditCheckpoint) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "format": c.FORMAT,
        "number": cp.number,
        "kind": cp.kind,
        "seq": cp.seq,
        "hash": cp.hash,
        "count": cp.count,
        "at": c.format_time(cp.at),
        "prev": cp.prev,
        "signature": cp.signature,
    }


def iter_entries(engine: Engine, where: AuditFilter) -> Iterator[dict[str, Any]]:
    """Linked entries in chain order, in batches, each read in its own short transaction
    (an export of millions of rows must not hold SQLite's one connection throughout)."""
    query = where.apply(select(*(getattr(AuditEntry, n) for n in ROW_COLUMNS)))
    after = 0
    while True:
        batch = query.where(col(AuditEntry.seq) > after).order_by(col(AuditEntry.seq))
        with engine.connect() as conn:
            rows = conn.execute(batch.limit(EXPORT_BATCH)).all()
        for row in rows:
            yield _entry_line(row)
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1][1]


def export_jsonl(engine: Engine, where: AuditFilter) -> Iterator[bytes]:
    """Checkpoints first, then entries: the input `offline_verify.py` takes."""
    with Session(engine) as session:
        cps = session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.number))).all()
        lines = [checkpoint_line(cp) for cp in cps]
    for line in lines:
        yield c.dumps(line) + b"\n"
    for entry in iter_entries(engine, where):
        yield c.dumps(entry) + b"\n"


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = ";".join(value)
    # Never let a spreadsheet evaluate a cell as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(engine: Engine, where: AuditFilter) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for n, entry in enumerate(iter_entries(engine, where), start=1):
        writer.writerow([_cell(entry[k]) for k in CSV_COLUMNS])
        if n % 500 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


# --- a subject's access history -----------------------------------------------------------


def may_see_access_log(principal: Principal, subject_id: uuid.UUID) -> bool:
    """The DPO, or the subject itself: a `subject` principal holds `subject:<id>` scopes
    for the subjects it proved to be (see the subject-auth issue)."""
    if principal.has_role("dpo"):
        return True
    return principal.has_role("subject") and principal.has_scope(f"subject:{subject_id}")


def subject_access_log(
    session: Session, ctx: RequestContext, *, subject_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[AccessLogItem], str | None]:
    """Who accessed this subject's data, when, for which purpose (newest first)."""
    if not may_see_access_log(ctx.principal, subject_id):
        err = Forbidden("only the DPO or the subject may read a subject's access log")
        err.audit = audit.event(
            ctx,
            action="audit.access_log",
            outcome="denied",
            subject_id=subject_id,
            reason="not_own_subject",
        )
        raise err
    query = select(AuditEntry).where(AuditEntry.subject_id == str(subject_id))
    query = query.where(col(AuditEntry.action).not_like("security.%"))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(col(AuditEntry.id) < int(after))
    rows = list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit + 1)).all())
    page, next_cursor = page_of(rows, limit, lambda r: r.id)
    names = _app_names(session, {r.actor for r in page if r.actor_type == "app"})
    items = [
        AccessLogItem(
            at=r.at,
            actor=r.actor,
            actor_type=r.actor_type,
            actor_name=names.get(r.actor),
            action=r.action,
            outcome=r.outcome,
            purpose=r.purpose,
            collection=r.collection,
            fields=r.fields,
        )
        for r in page
    ]
    audit.append(session, ctx, action="audit.access_log", subject_id=subject_id)
    return items, next_cursor


def _app_names(session: Session, actors: set[str]) -> dict[str, str]:
    ids = [a.removeprefix("app:") for a in actors]
    if not ids:
        return {}
    apps = session.exec(select(App).where(col(App.client_id).in_(ids))).all()
    return {f"app:{a.client_id}": a.name for a in apps}
