"""The APScheduler that triggers the registered jobs. No job logic here.

Every trigger goes through privacy.scheduling.service.run_named: the job's lock (so with
several schedulers, in `privacy serve` replicas or `privacy worker`s, each run happens
once), a job-run record, and isolation (a failing job is recorded, the scheduler goes on).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from privacy.runtime import Runtime
from privacy.scheduling import registry, service

log = logging.getLogger("jobs.scheduler")


def run_job(rt: Runtime, name: str) -> None:
    try:
        service.run_named(rt, name, started_by="schedule")
    except Exception as exc:  # recorded by run_named; never let one job stop the scheduler
        log.error("job %s: %s", name, type(exc).__name__)


def build(rt: Runtime, *, blocking: bool = False) -> BaseScheduler:
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        timezone=UTC,
        # A run missed while the process was down happens once when it comes back, not
        # once per missed slot; never two of one job at a time in one process.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for spec in registry.jobs():
        trigger = registry.make_trigger(spec.schedule(rt.settings))
        if trigger is None:
            continue
        scheduler.add_job(run_job, trigger, args=[rt, spec.name], id=spec.name, name=spec.name)
    return scheduler


def next_runs(scheduler: BaseScheduler) -> dict[str, datetime]:
    return {j.id: j.next_run_time for j in scheduler.get_jobs() if j.next_run_time is not None}


def start(rt: Runtime) -> BaseScheduler:
    """Start a background scheduler in this process (the embedded default's `privacy serve`)."""
    scheduler = build(rt)
    scheduler.start()
    service.set_live(lambda: next_runs(scheduler))
    log.info("scheduler started: %s", ", ".join(sorted(j.id for j in scheduler.get_jobs())))
    return scheduler


def stop(scheduler: BaseScheduler) -> None:
    service.set_live(None)
    scheduler.shutdown(wait=True)


def run_forever(rt: Runtime) -> None:
    """`privacy worker`: run the scheduler in the foreground until SIGTERM or Ctrl-C."""
    scheduler = build(rt, blocking=True)
    service.set_live(lambda: next_runs(scheduler))
    log.info("worker started: %s", ", ".join(sorted(j.id for j in scheduler.get_jobs())))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        service.set_live(None)
