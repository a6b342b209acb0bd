"""Running a job once across replicas and recording the run; the status of every job."""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from privacy.db import new_session, utcnow
from privacy.errors import Conflict, PrivacyError
from privacy.runtime import Runtime
from privacy.scheduling import registry
from privacy.scheduling.locks import job_lock
from privacy.scheduling.models import JobRun

log = logging.getLogger("privacy.scheduling")

JobFunc = Callable[[Runtime, JobRun], dict[str, Any]]


class JobAlreadyRunning(Conflict):
    title = "Job already running"


def resolve(spec: registry.JobSpec) -> JobFunc:
    module, _, name = spec.func.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _error_text(exc: BaseException) -> str:
    # Our own errors carry a detail written for users (no values); anything else is named
    # by its type only, since a driver's message can quote the data it choked on.
    if isinstance(exc, PrivacyError):
        return f"{type(exc).__name__}: {exc.detail}"[:500]
    return type(exc).__name__


def run_recorded(
    rt: Runtime,
    job: str,
    func: JobFunc,
    *,
    started_by: str = "schedule",
    raise_errors: bool = False,
    record_skip: bool = True,
) -> JobRun:
    """Run `func` under the job's lock and record the run.

    Another process holding the lock means the job is running there: the run is recorded
    as skipped (or JobAlreadyRunning raised when `raise_errors`). Runs left `running` by a
    process that died are marked `interrupted` by the next holder of the lock; the work
    itself resumes because every job commits in batches and finds what is left to do.
    """
    with job_lock(rt.engine, rt.settings.data_dir / "locks", job) as got:
        if not got:
            if raise_errors:
                raise JobAlreadyRunning(f"job {job} is running in another process")
            run = JobRun(job=job, started_by=started_by, outcome="skipped", host=_host())
            run.finished_at = run.started_at
            if record_skip:
                _save(rt, run)
            return run
        _mark_interrupted(rt, job)
        run = _save(rt, JobRun(job=job, started_by=started_by, host=_host()))
        try:
            counts = func(rt, run) or {}
        except BaseException as exc:
            run.outcome, run.error = "error", _error_text(exc)
            run.finished_at = utcnow()
            _save(rt, run)
            log.error("job %s failed: %s", job, run.error)
            if raise_errors or not isinstance(exc, Exception):
                raise
            return run
        run.outcome, run.counts, run.finished_at = "ok", counts, utcnow()
        _save(rt, run)
        log.info("job %s finished: %s", job, counts)
        return run


def run_named(rt: Runtime, job: str, *, started_by: str = "schedule", **kw: Any) -> JobRun:
    spec = registry.get(job)
    if spec is None:
        raise KeyError(job)
    return run_recorded(rt, job, resolve(spec), started_by=started_by, **kw)


def _host() -> str:
    return socket.gethostname()[:100]


def _save(rt: Runtime, run: JobRun) -> JobRun:
    with new_session(rt.engine) as session:
        run = session.merge(run)
        session.commit()
        return run


def _mark_interrupted(rt: Runtime, job: str) -> None:
    with new_session(rt.engine) as session:
        session.execute(
            update(JobRun)
            .where(col(JobRun.job) == job, col(JobRun.outcome) == "running")
            .values(outcome="interrupted", error="the process running it stopped")
        )
        session.commit()


# Set by a scheduler running in this process (jobs.scheduler): its jobs' next run times.
_live: Callable[[], dict[str, datetime]] | None = None


def set_live(source: Callable[[], dict[str, datetime]] | None) -> None:
    global _live
    _live = source


def live_next_runs() -> dict[str, datetime] | None:
    return _live() if _live is not None else None


@dataclass
class JobStatus:
    name: str
    description: str
    schedule: str | None
    next_run_at: datetime | None
    last_run: JobRun | None
    last_success_at: datetime | None


def status(
    session: Session, rt: Runtime, *, next_runs: dict[str, datetime] | None = None
) -> list[JobStatus]:
    """Every registered job with its schedule, next run (UTC) and last run."""
    now = utcnow()
    out = []
    for spec in registry.jobs():
        schedule = spec.schedule(rt.settings)
        trigger = registry.make_trigger(schedule)
        if next_runs and spec.name in next_runs:
            nxt: datetime | None = next_runs[spec.name]
        else:
            nxt = trigger.get_next_fire_time(None, now) if trigger is not None else None
        last = session.exec(
            select(JobRun).where(JobRun.job == spec.name).order_by(col(JobRun.started_at).desc())
        ).first()
        ok = session.exec(
            select(JobRun.finished_at)
            .where(JobRun.job == spec.name, JobRun.outcome == "ok")
            .order_by(col(JobRun.started_at).desc())
        ).first()
        out.append(JobStatus(spec.name, spec.description, schedule, nxt, last, ok))
    return out


def recent_runs(session: Session, *, job: str | None, limit: int) -> list[JobRun]:
    q = select(JobRun)
    if job:
        q = q.where(JobRun.job == job)
    return list(session.exec(q.order_by(col(JobRun.started_at).desc()).limit(limit)).all())
