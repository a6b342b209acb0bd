"""Downloading an export (subject or DPO, audited) and deleting expired ones."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.config import get_settings
from privacy.context import SYSTEM, RequestContext
from privacy.db import utcnow
from privacy.errors import Conflict, NotFound, PrivacyError
from privacy.requests import archive
from privacy.requests.export import export_dir, key_context
from privacy.requests.models import DsrExport
from privacy.requests.service import get_request
from privacy.runtime import Runtime

log = logging.getLogger("privacy.requests")


class Gone(PrivacyError):
    status, code, title = 410, "gone", "No longer available"


def open_export(
    session: Session, rt: Runtime, ctx: RequestContext, *, request_id: uuid.UUID
) -> Iterator[bytes]:
    """Check the whole archive opens, audit the download, and return its plaintext stream."""
    req = get_request(session, ctx, request_id=request_id)
    if req.type not in ("access", "portability"):
        raise NotFound(f"a {req.type} request has no export")
    if req.status != "completed":
        raise Conflict(f"the request is {req.status}; its export is made when it completes")
    exp = session.get(DsrExport, req.id)
    if exp is None or exp.deleted_at is not None or exp.expires_at <= utcnow():
        raise Gone("the export was deleted after its retention period; file a new request")
    path = export_dir(rt.settings) / exp.file_name
    cipher = rt.keyring.cipher(exp.wrapped_key, key_context(req.id))
    # A full pass first: a damaged archive is an error, not a silently truncated download.
    for _ in archive.decrypt(path, cipher, str(req.id)):
        pass
    audit.append(
        session,
        ctx,
        action="request.export_download",
        subject_id=req.subject_id,
        reason=f"request:{req.id};bytes:{exp.size}",
    )
    return archive.decrypt(path, cipher, str(req.id))


def due_exports(now: datetime, created_before: datetime | None = None) -> ColumnElement[bool]:
    """Live archives past `expires_at`, or created at or before `created_before` (the
    retention policy's cutoff, when it is shorter than the TTL)."""
    due = col(DsrExport.expires_at) <= now
    if created_before is not None:
        due = or_(due, col(DsrExport.created_at) <= created_before)
    return and_(col(DsrExport.deleted_at).is_(None), due)


def purge_expired_exports(
    session: Session,
    now: datetime,
    *,
    rt: Runtime | None = None,
    created_before: datetime | None = None,
) -> int:
    """Delete export archives past `expires_at` or created at or before `created_before`
    (and stray files of failed exports older than the TTL); returns how many archives were
    deleted. For the scheduler: the caller commits. Without `rt`, the data directory comes
    from the environment's settings."""
    settings = rt.settings if rt is not None else get_settings()
    folder = export_dir(settings)
    due = session.exec(select(DsrExport).where(due_exports(now, created_before))).all()
    for exp in due:
        (folder / exp.file_name).unlink(missing_ok=True)
        exp.deleted_at = now
        exp.wrapped_key = "destroyed"  # the key goes too: any copy of the file is unreadable
        session.add(exp)
        audit.append(
            session,
            RequestContext(SYSTEM),
            action="request.export_purge",
            subject_id=exp.subject_id,
            reason=f"request:{exp.request_id}",
        )
    live = {
        e.file_name
        for e in session.exec(select(DsrExport).where(col(DsrExport.deleted_at).is_(None)))
    }
    cutoff = (now - timedelta(days=settings.export_ttl_days)).timestamp()
    for path in folder.glob("*.pvx*"):
        if path.name not in live and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
    if due:
        log.info("deleted %d expired export archives", len(due))
    return len(due)


def destroy_exports(
    session: Session, ctx: RequestContext, rt: Runtime, subject_id: uuid.UUID
) -> int:
    """Before an erasure: delete every export archive of the subject and its wrapped key."""
    folder = export_dir(rt.settings)
    live = session.exec(
        select(DsrExport).where(
            DsrExport.subject_id == subject_id, col(DsrExport.deleted_at).is_(None)
        )
    ).all()
    now = utcnow()
    for exp in live:
        (folder / exp.file_name).unlink(missing_ok=True)
        exp.deleted_at, exp.wrapped_key = now, "destroyed"
        session.add(exp)
        audit.append(
            session,
            ctx,
            action="request.export_purge",
            subject_id=subject_id,
            reason=f"request:{exp.request_id};erasure",
        )
    return len(live)
