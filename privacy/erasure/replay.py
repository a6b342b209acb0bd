"""Replaying tombstones: after a database restore, erase again whoever reappeared.

Runs at start-up (before the API serves anything) and whenever the scheduler calls
`replay_tombstones`. Cost: one Vault list, one indexed query per 500 tombstones, and work
only for the subjects that are back.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

import kms
from privacy.context import SYSTEM, RequestContext
from privacy.db import new_session, utcnow
from privacy.erasure import tombstones
from privacy.erasure.models import HELD, Erasure
from privacy.erasure.service import run_erasure
from privacy.runtime import Runtime
from privacy.subjects.models import Subject

log = logging.getLogger("privacy.erasure.replay")

CHUNK = 500


def _ctx(reason: str) -> RequestContext:
    return RequestContext(principal=SYSTEM, request_id=reason)


def _returned(rt: Runtime, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Those of `ids` whose subject exists, except erasures correctly kept for a hold."""
    with new_session(rt.engine) as session:
        present = set(session.exec(select(Subject.id).where(col(Subject.id).in_(ids))).all())
        if not present:
            return []
        held = set(
            session.exec(
                select(Erasure.subject_id).where(
                    col(Erasure.subject_id).in_(present),
                    Erasure.status == HELD,
                    col(Erasure.result).is_not(None),
                )
            ).all()
        )
    return sorted(present - held)


def replay_tombstones(rt: Runtime) -> int:
    """Erase (again) every subject that has a tombstone but is in the database; returns
    how many were erased."""
    kv = tombstones.store(rt)
    ids = tombstones.subject_ids(kv)
    redone = 0
    for start in range(0, len(ids), CHUNK):
        for subject_id in _returned(rt, ids[start : start + CHUNK]):
            stone = tombstones.read(kv, subject_id) or {}
            request_id = stone.get("request_id")
            try:
                with new_session(rt.engine) as session:
                    run_erasure(
                        session,
                        rt,
                        _ctx("erasure-replay"),
                        subject_id,
                        request_id=uuid.UUID(request_id) if request_id else None,
                    )
            except SQLAlchemyError as exc:
                # e.g. another replica replaying the same subject at the same moment; the
                # next replay (or that replica) finishes it. Vault errors do propagate.
                log.warning("erasure replay of %s deferred: %s", subject_id, type(exc).__name__)
                continue
            redone += 1
    if redone:
        log.warning("erasure replay: %d erased subject(s) had come back and were erased", redone)
    return redone


def destroy_expired_holds(rt: Runtime, now: datetime | None = None) -> int:
    """Finish erasures whose last legal hold has ended: the held records and the DEK go.
    Returns how many erasures were re-run."""
    now = now or utcnow()
    with new_session(rt.engine) as session:
        due = session.exec(
            select(Erasure.subject_id).where(Erasure.status == HELD, col(Erasure.hold_until) <= now)
        ).all()
    for subject_id in due:
        with new_session(rt.engine) as session:
            run_erasure(session, rt, _ctx("erasure-hold-expired"), subject_id, now=now)
    return len(due)


def startup(rt: Runtime) -> int:
    """Make sure the tombstone mount exists (where the token may), then replay."""
    kv = tombstones.store(rt)
    # A least-privilege token may not manage mounts: the operator enabled it (README).
    with contextlib.suppress(kms.AccessDenied):
        kv.ensure_mount()
    return replay_tombstones(rt)
