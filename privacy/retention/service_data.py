"""Policies on the service's own data (`data = "..."` in the retention file).

Each data set is purged by the domain that owns it, through a function registered here:
`purger(rt, cutoff=..., dry_run=...) -> (matched, purged)`, deleting what was created at
or before `cutoff` in its own bounded transactions. Registering one is one line, e.g.

    register("sessions", privacy.retention.purgers.purge_sessions)

A data set without a registered purger is reported as not enforced, not silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import col

from privacy.audit.models import AuditEntry
from privacy.context import RequestContext
from privacy.db import new_session
from privacy.retention.policy import Policy
from privacy.runtime import Runtime
from privacy.scheduling.models import JobRun

Purger = Callable[..., tuple[int, int]]
_PURGERS: dict[str, Purger] = {}


def register(data: str, purger: Purger) -> None:
    _PURGERS[data] = purger


def registered() -> dict[str, Purger]:
    return dict(_PURGERS)


def apply(rt: Runtime, ctx: RequestContext, policy: Policy, *, now: datetime, dry_run: bool):  # type: ignore[no-untyped-def]
    from privacy.retention.service import PolicyOutcome, record_batch

    out = PolicyOutcome(policy.id, policy.action, data=policy.data)
    purger = _PURGERS.get(policy.data or "")
    if purger is None:
        out.enforced = False
        return out
    matched, purged = purger(rt, cutoff=policy.cutoff(now), dry_run=dry_run)
    out.matched, out.purged = matched, purged
    if purged and not dry_run:
        with new_session(rt.engine) as session:
            record_batch(session, ctx, policy, collection=None, count=purged, run_id=None)
            session.commit()
    return out


def purge_job_runs(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Finished job runs started at or before `cutoff`."""
    where = [col(JobRun.started_at) <= cutoff, col(JobRun.outcome) != "running"]
    with new_session(rt.engine) as session:
        matched = session.execute(
            select(func.count()).select_from(JobRun).where(*where)
        ).scalar_one()
        if dry_run or not matched:
            return matched, matched if dry_run else 0
        res = session.execute(delete(JobRun).where(*where))
        session.commit()
        return matched, max(res.rowcount, 0)  # type: ignore[attr-defined]


def purge_audit_log(rt: Runtime, *, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Whole sealed segments of the access log sealed before `cutoff`, behind a signed anchor
    (privacy.audit.seals.purge verifies them first). A dry run counts the entries older
    than `cutoff`: an upper bound, since only sealed segments go."""
    with new_session(rt.engine) as session:
        older = session.execute(
            select(func.count()).select_from(AuditEntry).where(col(AuditEntry.at) <= cutoff)
        ).scalar_one()
    if dry_run or not older:
        return older, older if dry_run else 0
    from privacy.audit import seals

    result = seals.purge(
        rt.engine,
        seals.Signer(rt.transit, rt.settings.audit_signing_key),
        older_than=cutoff,
        mac_key=rt.audit_key,
    )
    return older, result.purged


register("job_runs", purge_job_runs)
register("audit_log", purge_audit_log)


def _register_owned() -> None:
    # Imported here: these reach into the auth and requests domains.
    from privacy.retention import purgers

    register("sessions", purgers.purge_sessions)
    register("revoked_tokens", purgers.purge_revoked_tokens)
    register("export_archives", purgers.purge_export_archives)
    register("requests", purgers.purge_requests)
    # No "tombstones": Vault KV, which the service may not delete from (purgers.py).


_register_owned()

__all__ = ["apply", "register", "registered"]
