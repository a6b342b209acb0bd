from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from privacy.audit import integrity, queries
from privacy.audit import service as audit
from privacy.audit.chain import ChainBroken
from privacy.audit.queries import AuditFilter
from privacy.audit.schemas import (
    AccessLogItem,
    AuditEntryRead,
    CheckpointRead,
    FindingRead,
    PublicKeyRead,
    VerifyRead,
)
from privacy.audit.worker import AuditWorker
from privacy.context import RequestContext
from privacy.deps import RuntimeDep, SessionDep, require_roles
from privacy.errors import PROBLEM_RESPONSES
from privacy.schemas import Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["audit"], responses=PROBLEM_RESPONSES)

AuditReaderCtx = Annotated[RequestContext, require_roles("auditor", "dpo")]
SealerCtx = Annotated[RequestContext, require_roles("admin", "auditor", "dpo")]
# The subject role arrives with subject auth; the service checks it is the subject's own.
AccessLogCtx = Annotated[RequestContext, require_roles("dpo", "subject")]
Cursor = Annotated[str | None, Query(max_length=500)]


def get_worker(request: Request) -> AuditWorker:
    worker = getattr(request.app.state, "audit_worker", None)
    if worker is None:  # an app used without its lifespan: work on demand only
        worker = request.app.state.audit_worker = AuditWorker(
            request.app.state.runtime, metrics=getattr(request.app.state, "metrics", None)
        )
    return worker


WorkerDep = Annotated[AuditWorker, Depends(get_worker)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def audit_filter(
    subject_id: uuid.UUID | None = None,
    actor: Annotated[str | None, Query(max_length=100, description="e.g. app:app_1f2e...")] = None,
    action: Annotated[
        str | None, Query(max_length=48, description="Exact, or a prefix ending in *.")
    ] = None,
    outcome: Annotated[str | None, Query(max_length=24)] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
) -> AuditFilter:
    return AuditFilter(
        subject_id=str(subject_id) if subject_id else None,
        actor=actor,
        action=action,
        outcome=outcome,
        since=_utc(since),
        until=_utc(until),
    )


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/audit", response_model=Page[AuditEntryRead])
def list_audit(
    session: SessionDep,
    ctx: AuditReaderCtx,
    where: FilterDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditEntryRead]:
    """Audit entries, newest first, filtered."""
    rows, next_cursor = queries.list_entries(session, ctx, where=where, limit=limit, cursor=cursor)
    return Page(items=[AuditEntryRead.model_validate(r) for r in rows], next_cursor=next_cursor)


_EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def export_audit(
    session: SessionDep,
    ctx: AuditReaderCtx,
    worker: WorkerDep,
    where: FilterDep,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    """Export linked entries in chain order (JSON Lines with checkpoints, or CSV), streamed."""
    with contextlib.suppress(ChainBroken):  # export what is there; verification explains
        worker.chain()
    audit.append(
        session,
        ctx,
        action="audit.export",
        subject_id=where.subject_id,
        reason=f"format={format};{where.names()}",
    )
    engine = worker.rt.engine
    body = (
        queries.export_jsonl(engine, where)
        if format == "jsonl"
        else queries.export_csv(engine, where)
    )
    name = f"audit-log.{format}"
    return StreamingResponse(
        body,
        media_type=_EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/audit/verify", response_model=VerifyRead)
def verify_audit(session: SessionDep, ctx: AuditReaderCtx, worker: WorkerDep) -> VerifyRead:
    """Check the whole log: chain, MACs and signed seals; names the first bad entry."""
    result = integrity.verify_log(worker)
    bad = result.first_bad
    audit.append(session, ctx, action="audit.verify", reason="ok" if bad is None else bad.code)
    return VerifyRead(
        ok=result.ok,
        checked=result.checked,
        first_bad=FindingRead(**bad.__dict__) if bad else None,
        reason=bad.reason if bad else None,
        seals_checked=result.seals_checked,
        head_seq=result.head_seq,
        sealed_seq=result.sealed_seq,
        pending=result.pending,
    )


@router.post("/audit/seal", status_code=201, response_model=CheckpointRead)
def seal_audit(session: SessionDep, ctx: SealerCtx, worker: WorkerDep) -> CheckpointRead:
    """Link what is committed and sign the chain head now."""
    cp = integrity.seal_now(worker)
    audit.append(session, ctx, action="audit.seal", reason=f"checkpoint={cp.number}")
    return CheckpointRead.model_validate(cp)


@router.get("/audit/seals", response_model=Page[CheckpointRead])
def list_seals(
    session: SessionDep, ctx: AuditReaderCtx, limit: Limit = 50, cursor: Cursor = None
) -> Page[CheckpointRead]:
    """Signed checkpoints (seals and purge anchors), newest first."""
    after = decode_cursor(cursor)
    before = int(after) if after is not None else None
    rows = integrity.list_checkpoints(session, limit=limit, before=before)
    next_cursor = encode_cursor(rows[limit - 1].number) if len(rows) > limit else None
    return Page(
        items=[CheckpointRead.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor
    )


@router.get("/audit/public-key", response_model=PublicKeyRead)
def public_key(rt: RuntimeDep) -> PublicKeyRead:
    """The ed25519 public key(s) that verify audit seals. Public: no token needed."""
    return PublicKeyRead(key_name=rt.settings.audit_signing_key, keys=integrity.public_keys(rt))


@router.get("/subjects/{subject_id}/access-log", response_model=Page[AccessLogItem])
def access_log(
    subject_id: uuid.UUID,
    session: SessionDep,
    ctx: AccessLogCtx,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AccessLogItem]:
    """Who accessed this subject's data, when, and for which purpose."""
    items, next_cursor = queries.subject_access_log(
        session, ctx, subject_id=subject_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)
