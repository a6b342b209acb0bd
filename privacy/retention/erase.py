"""`erase_subject` policies: remove whole subjects, except what a legal hold keeps.

The purge runs the erasure domain's erasure (`erase_with_proof`), the same one as an
erasure request: tombstone in Vault KV, signed receipt, Art. 19 notices and its own
legal-hold handling. A subject it kept records of for a hold is counted as held.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from privacy.audit import service as audit
from privacy.context import RequestContext
from privacy.db import new_session
from privacy.retention.policy import Hold, Policy, RetentionConfig
from privacy.retention.scope import Catalog, candidates, hold_gate, policy_collections
from privacy.runtime import Runtime
from privacy.subjects.models import Record
from privacy.subjects.sealing import key_context


@dataclass(frozen=True)
class Erased:
    erased: bool  # the subject and its DEK are gone
    records_deleted: int
    holds: tuple[Hold, ...]  # what kept some of its records (erased is then False)


def subject_holds(
    session: Session, cfg: RetentionConfig, catalog: Catalog, subject_id: uuid.UUID, now: datetime
) -> list[Hold]:
    """The holds in force on any of the subject's records."""
    newest = session.execute(
        select(Record.collection, func.max(Record.created_at))
        .where(col(Record.subject_id) == subject_id)
        .group_by(Record.collection)
    ).all()
    found: dict[str, Hold] = {}
    for collection, created in newest:
        created = created if created.tzinfo else created.replace(tzinfo=now.tzinfo)
        for hold, cut in hold_gate(cfg, catalog, collection, now).holds:
            if cut is None or created > cut:
                found[hold.id] = hold
    return [found[k] for k in sorted(found)]


def erase_with_proof(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    catalog: Catalog,
    now: datetime,
    reason: str,
) -> Erased:
    """`privacy.erasure.service.run_erasure` behind this module's calling convention.

    It commits through `session` (per batch and at the end), so whatever the caller added
    before the call is committed with it. The holds it applies are the same `[[hold]]`
    entries (rt.retention); a subject it kept records of is `erased=False` with those holds.
    """
    from privacy.erasure.service import run_erasure

    # Why the system erased this subject: the erasure's own audit rows name no policy.
    audit.append(session, ctx, action="retention.erase", subject_id=subject_id, reason=reason)
    result = run_erasure(session, rt, ctx, subject_id, now=now)
    kept = {k["hold"] for k in result.get("kept") or ()}
    held = tuple(h for h in rt.retention.holds if h.id in kept)
    return Erased(
        erased=not kept,
        records_deleted=sum(result.get("erased", {}).values()),
        holds=held,
    )


def candidate_subjects(
    session: Session,
    policy: Policy,
    catalog: Catalog,
    now: datetime,
    *,
    after: Any = None,
    limit: int | None = None,
) -> list[uuid.UUID]:
    """Subjects with a record in scope whose trigger is past the policy's period."""
    cutoff = policy.cutoff(now)
    found: set[uuid.UUID] = set()
    for collection in policy_collections(policy, catalog):
        q = select(Record.subject_id).where(*candidates(policy, catalog, collection, cutoff))
        if after is not None:
            q = q.where(col(Record.subject_id) > after)
        q = q.distinct().order_by(col(Record.subject_id))
        if limit is not None:
            q = q.limit(limit)
        found.update(session.execute(q).scalars())
    ordered = sorted(found)
    return ordered[:limit] if limit is not None else ordered


def _batches(
    rt: Runtime, policy: Policy, catalog: Catalog, now: datetime, size: int
) -> Iterator[list[uuid.UUID]]:
    after = None
    while True:
        with new_session(rt.engine) as session:
            ids = candidate_subjects(session, policy, catalog, now, after=after, limit=size)
        if not ids:
            return
        after = ids[-1]
        yield ids


def purge_subjects(
    rt: Runtime,
    ctx: RequestContext,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    run_id: uuid.UUID | None,
    batch: int,
    progress: Callable[[str, int], None] | None,
) -> int:
    """Erase every expired subject of an erase_subject policy, one transaction per batch."""
    from privacy.retention.service import give_way, record_batch

    done = 0
    for ids in _batches(rt, policy, catalog, now, batch):
        started = time.perf_counter()
        with new_session(rt.engine) as session:
            erased = []
            for subject_id in ids:
                got = erase_with_proof(
                    session,
                    rt,
                    ctx,
                    subject_id=subject_id,
                    catalog=catalog,
                    now=now,
                    reason=f"retention policy:{policy.id}",
                )
                if got.erased:
                    erased.append(subject_id)
            if erased:
                record_batch(
                    session, ctx, policy, collection=None, count=len(erased), run_id=run_id
                )
            session.commit()
        for subject_id in erased:
            rt.keyring.forget(key_context(subject_id))
        done += len(erased)
        if progress and erased:
            progress(policy.id, len(erased))
        give_way(rt, time.perf_counter() - started)  # SQLite: waiting requests go first
    return done
