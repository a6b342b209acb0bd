"""The retention purge: apply every policy in force, in bounded batches, holds first.

Each batch is one transaction holding its deletions, one audit entry (policy and count,
never values) and one row of the purge log, so a run killed at any moment (kill -9
included) has either done a batch completely or not at all; the next run finds what is
still expired and carries on. Nothing is purged twice because purged rows are gone (or,
for `anonymise`, no longer carry the fields).

A dry run counts and changes nothing. Holds win: a held record is kept, counted as held
and attributed to the holds that keep it (with their grounds).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from privacy.audit import service as audit
from privacy.context import RequestContext
from privacy.db import checkpoints_aside, new_session, utcnow, waiting_for_connection
from privacy.retention import erase, service_data
from privacy.retention.models import RetentionPurge
from privacy.retention.policy import Policy, as_utc
from privacy.retention.scope import (
    Catalog,
    HoldGate,
    candidates,
    hold_gate,
    load_catalog,
    policy_collections,
)
from privacy.runtime import Runtime
from privacy.subjects.models import BlindIndexEntry, Record

log = logging.getLogger("privacy.retention")
BATCH = 1000  # records per transaction: bounded lock time, one audit entry per batch
SUBJECT_BATCH = 100  # subjects per transaction for erase_subject
SQLITE_GIVE_WAY = 1.0  # longest wait for queued requests after a batch, per batch time
QUIET = 0.010  # seconds with nobody waiting for the connection: the purge goes on
MIN_BATCH = 100  # the smallest batch while requests are waiting (SQLite)


@dataclass
class HeldBy:
    hold: str
    ground: str
    count: int


@dataclass
class PolicyOutcome:
    id: str
    action: str
    matched: int = 0  # expired and in scope when the run started
    purged: int = 0  # purged (on a dry run: would be purged)
    held: int = 0  # kept by a legal hold
    held_by: list[HeldBy] = field(default_factory=list)
    data: str | None = None
    enforced: bool = True  # False: a service data set nobody purges in this build
    error: str | None = None


@dataclass
class PurgeReport:
    dry_run: bool
    at: datetime
    policies: list[PolicyOutcome]

    @property
    def purged(self) -> int:
        return sum(p.purged for p in self.policies)


Progress = Callable[[str, int], None]  # (policy id, records just purged)


def purge(
    rt: Runtime,
    ctx: RequestContext,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch: int | None = None,
    run_id: uuid.UUID | None = None,
    progress: Progress | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> PurgeReport:
    """Apply every policy. One policy's failure is reported and does not stop the others."""
    now = as_utc(now or utcnow())
    batch = batch or rt.settings.retention_batch_size
    with new_session(rt.engine) as session:
        catalog = load_catalog(session)
    outcomes = []
    with checkpoints_aside(rt.engine) if not dry_run else nullcontext():
        for policy in rt.retention.policies:
            try:
                if policy.data is not None:
                    out = service_data.apply(rt, ctx, policy, now=now, dry_run=dry_run)
                else:
                    out = _apply(
                        rt,
                        ctx,
                        policy,
                        catalog,
                        now=now,
                        dry_run=dry_run,
                        batch=batch,
                        run_id=run_id,
                        progress=progress,
                        on_start=on_start,
                    )
            except Exception as exc:  # isolate: report it and go on with the next policy
                log.error("retention policy %s failed: %s", policy.id, type(exc).__name__)
                out = PolicyOutcome(policy.id, policy.action, data=policy.data)
                out.error = type(exc).__name__
            outcomes.append(out)
    return PurgeReport(dry_run=dry_run, at=now, policies=outcomes)


def count_policy(
    session: Session, rt: Runtime, policy: Policy, catalog: Catalog, now: datetime
) -> PolicyOutcome:
    """Matched, held (by which hold) and purgeable counts for one records policy at `now`."""
    held_by: dict[str, HeldBy] = {}
    if policy.action == "erase_subject":  # counted in subjects, not records
        out = _count_subjects(session, rt, policy, catalog, now, held_by)
        out.held_by = sorted(held_by.values(), key=lambda h: h.hold)
        return out
    out = PolicyOutcome(policy.id, policy.action)
    cutoff = policy.cutoff(now)
    for collection in policy_collections(policy, catalog):
        where = candidates(policy, catalog, collection, cutoff)
        gate = hold_gate(rt.retention, catalog, collection, now)
        matched, held = _counts(session, where, gate)
        out.matched += matched
        out.held += held
        for hold, cut in gate.holds:
            n = matched if cut is None else _count(session, [*where, col(Record.created_at) > cut])
            if n:
                entry = held_by.setdefault(hold.id, HeldBy(hold.id, hold.ground, 0))
                entry.count += n
        if policy.action == "anonymise":
            out.purged += _count_with_fields(
                session, [*where, gate.free_clause(Record.created_at)], policy.fields
            )
        else:
            out.purged += matched - held
    out.held_by = sorted(held_by.values(), key=lambda h: h.hold)
    return out


def _counts(session: Session, where: list[Any], gate: HoldGate) -> tuple[int, int]:
    matched = _count(session, where)
    if not matched or not gate.holds:
        return matched, 0
    return matched, matched if gate.forever else _count(
        session, [*where, gate.held_clause(Record.created_at)]
    )


def _count(session: Session, where: list[Any]) -> int:
    return session.execute(select(func.count()).select_from(Record).where(*where)).scalar_one()


def _count_with_fields(session: Session, where: list[Any], fields: tuple[str, ...]) -> int:
    n, after = 0, None
    while True:
        rows = _page(session, where, after, BATCH, with_sealed=True)
        if not rows:
            return n
        n += sum(1 for _, sealed in rows if not set(fields).isdisjoint(sealed))
        after = rows[-1][0]


def _page(
    session: Session, where: list[Any], after: uuid.UUID | None, limit: int, *, with_sealed: bool
) -> list[Any]:
    cols = [Record.id, Record.sealed] if with_sealed else [Record.id]
    q = select(*cols).where(*where)
    if after is not None:
        q = q.where(col(Record.id) > after)
    return list(session.execute(q.order_by(col(Record.id)).limit(limit)).all())


def _apply(
    rt: Runtime,
    ctx: RequestContext,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    dry_run: bool,
    batch: int,
    run_id: uuid.UUID | None,
    progress: Progress | None,
    on_start: Callable[[str, int], None] | None,
) -> PolicyOutcome:
    with new_session(rt.engine) as session:
        out = count_policy(session, rt, policy, catalog, now)
    if on_start:
        on_start(policy.id, out.purged)
    if dry_run:
        return out
    planned, out.purged = out.purged, 0
    if policy.action == "erase_subject":
        out.purged = erase.purge_subjects(
            rt, ctx, policy, catalog, now=now, run_id=run_id, batch=SUBJECT_BATCH, progress=progress
        )
    else:
        for collection in policy_collections(policy, catalog):
            out.purged += _purge_collection(
                rt,
                ctx,
                policy,
                catalog,
                collection,
                now=now,
                batch=batch,
                run_id=run_id,
                progress=progress,
            )
    log.info(
        "retention policy %s: matched=%d purged=%d held=%d (planned %d)",
        policy.id,
        out.matched,
        out.purged,
        out.held,
        planned,
    )
    return out


def _purge_collection(
    rt: Runtime,
    ctx: RequestContext,
    policy: Policy,
    catalog: Catalog,
    collection: str,
    *,
    now: datetime,
    batch: int,
    run_id: uuid.UUID | None,
    progress: Progress | None,
) -> int:
    gate = hold_gate(rt.retention, catalog, collection, now)
    where = [
        *candidates(policy, catalog, collection, policy.cutoff(now)),
        gate.free_clause(Record.created_at),
    ]
    done, after, size = 0, None, batch
    while True:
        started = time.perf_counter()
        with new_session(rt.engine) as session:
            if policy.action == "delete":
                n, last = _delete_batch(session, where, size)
            else:
                n, last = _anonymise_batch(session, where, after, size, policy.fields)
            if last is None:
                return done
            after = last if policy.action == "anonymise" else None
            if n:
                record_batch(session, ctx, policy, collection=collection, count=n, run_id=run_id)
            session.commit()
        done += n
        if progress and n:
            progress(policy.id, n)
        # Requests waited: smaller batches keep their wait short. Nobody did: bigger
        # ones, up to the configured size, go faster.
        if give_way(rt, time.perf_counter() - started):
            size = max(MIN_BATCH, size // 2)
        else:
            size = min(batch, size * 2)


def give_way(rt: Runtime, batch_seconds: float) -> bool:
    """SQLite: the API and the purge share one connection (privacy/db.py). After a batch,
    let the requests that queued up behind it go first, for at most SQLITE_GIVE_WAY
    times the batch's own time; so a purge slows the API down by a bounded factor
    instead of starving it, and runs flat out when nobody is waiting.

    True when requests were waiting (never on PostgreSQL, which has a pool)."""
    if not waiting_for_connection(rt.engine):
        return False
    now = time.perf_counter()
    deadline, last_seen = now + batch_seconds * SQLITE_GIVE_WAY, now
    # A request takes the connection more than once (its principal, then its work), so
    # wait for a short quiet spell, not only for the queue to be empty for an instant.
    while now < deadline and now - last_seen < QUIET:
        if waiting_for_connection(rt.engine):
            last_seen = now
        time.sleep(0.0005)
        now = time.perf_counter()
    return True


def _delete_batch(session: Session, where: list[Any], batch: int) -> tuple[int, Any]:
    """Delete up to `batch` matching records in one statement.

    The ids are chosen inside the DELETE (no round trip through Python), in the order of
    the (collection, created_at) index, which is close to the order rows were written, so
    a batch touches few pages. The blind-index rows go with them by ON DELETE CASCADE
    (foreign keys are on for SQLite, see privacy/db.py), inside the database.
    """
    chosen = select(Record.id).where(*where).limit(batch)
    res = session.execute(
        delete(Record)
        .where(col(Record.id).in_(chosen))
        .execution_options(synchronize_session=False)
    )
    n = max(res.rowcount, 0)  # type: ignore[attr-defined]
    return n, (True if n else None)


def _anonymise_batch(
    session: Session, where: list[Any], after: uuid.UUID | None, batch: int, fields: tuple[str, ...]
) -> tuple[int, Any]:
    rows = _page(session, where, after, batch, with_sealed=True)
    if not rows:
        return 0, None
    drop = set(fields)
    touched = [(rid, sealed) for rid, sealed in rows if not drop.isdisjoint(sealed)]
    for rid, sealed in touched:
        record = session.get(Record, rid)
        if record is None:
            continue
        record.sealed = {k: v for k, v in sealed.items() if k not in drop}
        session.add(record)
    if touched:
        session.execute(
            delete(BlindIndexEntry).where(
                col(BlindIndexEntry.record_id).in_([rid for rid, _ in touched]),
                col(BlindIndexEntry.field).in_(sorted(drop)),
            )
        )
    return len(touched), rows[-1][0]


def record_batch(
    session: Session,
    ctx: RequestContext,
    policy: Policy,
    *,
    collection: str | None,
    count: int,
    run_id: uuid.UUID | None,
    subject_id: Any = None,
) -> None:
    """The audit entry and purge-log row of one batch, in the batch's transaction."""
    audit.append(
        session,
        ctx,
        action=f"retention.{policy.action}",
        collection=collection,
        subject_id=subject_id,
        fields=policy.fields or None,
        reason=f"policy:{policy.id} count:{count}",
    )
    session.add(
        RetentionPurge(
            policy_id=policy.id,
            action=policy.action,
            collection=collection,
            count=count,
            run_id=run_id,
        )
    )


def _count_subjects(
    session: Session,
    rt: Runtime,
    policy: Policy,
    catalog: Catalog,
    now: datetime,
    held_by: dict[str, HeldBy],
) -> PolicyOutcome:
    out = PolicyOutcome(policy.id, policy.action)
    for subject_id in erase.candidate_subjects(session, policy, catalog, now):
        out.matched += 1
        holds = erase.subject_holds(session, rt.retention, catalog, subject_id, now)
        if holds:
            out.held += 1
            for hold in holds:
                entry = held_by.setdefault(hold.id, HeldBy(hold.id, hold.ground, 0))
                entry.count += 1
        else:
            out.purged += 1
    return out


def summary(report: PurgeReport) -> dict[str, Any]:
    """Counts for the job-run record."""
    return {
        "matched": sum(p.matched for p in report.policies),
        "purged": report.purged,
        "held": sum(p.held for p in report.policies),
        "policies": len(report.policies),
        "policies_failed": sum(1 for p in report.policies if p.error),
    }


def run_purge(
    rt: Runtime,
    ctx: RequestContext,
    *,
    dry_run: bool = False,
    started_by: str = "api",
    now: datetime | None = None,
    progress: Progress | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> PurgeReport:
    """Purge now, under the job's lock and recorded as a run of `retention-purge` (a dry run
    needs neither). Raises JobAlreadyRunning while another process purges."""
    if dry_run:
        return purge(rt, ctx, dry_run=True, now=now, on_start=on_start)
    from privacy.scheduling.service import run_recorded

    done: list[PurgeReport] = []

    def job(rt: Runtime, run: Any) -> dict[str, Any]:
        done.append(purge(rt, ctx, now=now, run_id=run.id, progress=progress, on_start=on_start))
        return summary(done[0])

    run_recorded(rt, "retention-purge", job, started_by=started_by, raise_errors=True)
    return done[0]
