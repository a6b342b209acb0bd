"""Purgers for the service's own data sets that other domains own (registered in
privacy.retention.service_data): sign-in sessions, revoked-token entries, export archives
and closed data-subject requests. Each is `fn(rt, *, cutoff, dry_run) -> (matched, purged)`,
where `cutoff` is `now - period` of the policy that governs the data set.

Erasure tombstones have no purger on purpose: they live in Vault KV, and the service's
Vault policy cannot delete them (privacy.erasure.tombstones), so a purge reports the
`tombstones` data set as not enforced.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlmodel import Session, col

from privacy.auth.models import BrowserSession, RefreshToken, RevokedToken
from privacy.db import new_session, utcnow
from privacy.requests.downloads import due_exports, purge_expired_exports
from privacy.requests.export import export_dir
from privacy.requests.models import OPEN_STATUSES, DataSubjectRequest, DsrExport
from privacy.runtime import Runtime


def _count(session: Session, model: Any, where: ColumnElement[bool]) -> int:
    return int(session.execute(select(func.count()).select_from(model).where(where)).scalar_one())


def _delete(session: Session, model: Any, where: ColumnElement[bool]) -> int:
    return max(session.execute(delete(model).where(where)).rowcount, 0)  # type: ignore[attr-defined]


def purge_sessions(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Refresh tokens (each link of a family) and browser sessions created at or before
    `cutoff`, once they have expired: a policy shorter than a lifetime never ends a live
    sign-in early."""
    now = utcnow()
    targets = [
        (m, and_(col(m.created_at) <= cutoff, col(m.expires_at) <= now))
        for m in (RefreshToken, BrowserSession)
    ]
    with new_session(rt.engine) as session:
        matched = sum(_count(session, m, w) for m, w in targets)
        if dry_run or not matched:
            return matched, matched if dry_run else 0
        purged = sum(_delete(session, m, w) for m, w in targets)
        session.commit()
    return matched, purged


def purge_revoked_tokens(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Deny-list entries whose access token expired at or before `cutoff`. An entry has no
    creation time of its own; a token is revoked before it expires, so an entry goes at
    least the policy's period after it was made."""
    where = col(RevokedToken.expires_at) <= cutoff
    with new_session(rt.engine) as session:
        matched = _count(session, RevokedToken, where)
        if dry_run or not matched:
            return matched, matched if dry_run else 0
        purged = _delete(session, RevokedToken, where)
        session.commit()
    return matched, purged


def purge_export_archives(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Export archives created at or before `cutoff`, or past their download window
    (`PRIVACY_EXPORT_TTL_DAYS`): the file is deleted and its wrapped key overwritten, so no
    copy of the file, backups included, decrypts any more."""
    now = utcnow()
    with new_session(rt.engine) as session:
        matched = _count(session, DsrExport, due_exports(now, cutoff))
        if dry_run or not matched:
            return matched, matched if dry_run else 0
        purged = purge_expired_exports(session, now, rt=rt, created_before=cutoff)
        session.commit()
    return matched, purged


def purge_requests(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Closed (completed or rejected) data-subject requests received at or before `cutoff`,
    with their export rows. Open requests are never deleted, however old."""
    where = and_(
        col(DataSubjectRequest.status).not_in(OPEN_STATUSES),
        col(DataSubjectRequest.received_at) <= cutoff,
    )
    with new_session(rt.engine) as session:
        ids: list[uuid.UUID] = list(
            session.execute(select(DataSubjectRequest.id).where(where)).scalars()
        )
        if dry_run or not ids:
            return len(ids), len(ids) if dry_run else 0
        purged = 0
        folder = export_dir(rt.settings)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            # An archive still on disk goes with its request (SQLite may not cascade).
            for name in session.execute(
                select(DsrExport.file_name).where(
                    col(DsrExport.request_id).in_(chunk), col(DsrExport.deleted_at).is_(None)
                )
            ).scalars():
                (folder / name).unlink(missing_ok=True)
            _delete(session, DsrExport, col(DsrExport.request_id).in_(chunk))
            purged += _delete(session, DataSubjectRequest, col(DataSubjectRequest.id).in_(chunk))
            session.commit()
    return len(ids), purged
