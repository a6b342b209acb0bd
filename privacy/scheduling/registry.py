"""The table of scheduled jobs. Adding a domain's clean-up is one `register(...)` line.

A job function is named by an import string ("package.module:function") so that this
table (read by `GET /v1/jobs`) does not import the `jobs` package; it is called as
`function(rt, run) -> dict[str, int]` (counts only) by privacy.scheduling.service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from privacy.config import Settings


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: str  # "module:function"
    description: str
    # The schedule from the settings: a crontab line (UTC), "every <seconds>", or None (off).
    schedule: Callable[[Settings], str | None]


_JOBS: dict[str, JobSpec] = {}


def register(spec: JobSpec) -> None:
    _JOBS[spec.name] = spec


def jobs() -> list[JobSpec]:
    return list(_JOBS.values())


def get(name: str) -> JobSpec | None:
    return _JOBS.get(name)


def make_trigger(schedule: str | None) -> Any:
    """An APScheduler trigger for a schedule string (None: the job is off)."""
    if not schedule:
        return None
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.startswith("every "):
        seconds = float(schedule.removeprefix("every ").rstrip("s"))
        if seconds <= 0:
            return None
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    return CronTrigger.from_crontab(schedule, timezone=UTC)


def _every(seconds: float) -> str | None:
    return f"every {seconds:g}s" if seconds > 0 else None


register(
    JobSpec(
        "retention-purge",
        "jobs.retention:run",
        "Apply the retention policies (PRIVACY_RETENTION_FILE) and purge what expired.",
        lambda s: s.retention_schedule,
    )
)
register(
    JobSpec(
        "audit-seal",
        "jobs.audit_seal:run_job",
        "Sign the audit chain head and purge sealed segments past their retention.",
        lambda s: _every(s.audit_seal_interval),
    )
)
register(
    JobSpec(
        "key-rotation",
        "jobs.key_rotation:run",
        "Rotate the KEK, rewrap every DEK inside Vault, then retire the old version.",
        lambda s: s.key_rotation_schedule,
    )
)
register(
    JobSpec(
        "reports",
        "jobs.reports:run",
        "Write the retention report and the record of processing to the data directory.",
        lambda s: s.report_schedule,
    )
)
# Other domains' clean-ups (jobs/cleanup.py). Sessions, revoked tokens, export archives and
# request records are purged by the retention purge (privacy/retention/purgers.py).
register(
    JobSpec(
        "tombstone-replay",
        "jobs.cleanup:replay_tombstones",
        "Erase again every subject that has an erasure tombstone but is in the database.",
        lambda s: s.tombstone_replay_schedule,
    )
)
register(
    JobSpec(
        "hold-expiry",
        "jobs.cleanup:destroy_expired_holds",
        "Finish erasures whose last legal hold ended: held records and the DEK go.",
        lambda s: s.hold_expiry_schedule,
    )
)
register(
    JobSpec(
        "webhook-retries",
        "jobs.cleanup:deliver_webhooks",
        "Send the Art. 19 webhook deliveries that are due (first tries and retries).",
        lambda s: s.webhook_retry_schedule,
    )
)
register(
    JobSpec(
        "auth-cleanup",
        "jobs.cleanup:purge_ip_blocks",
        "Delete IP blocks that have expired.",
        lambda s: s.auth_cleanup_schedule,
    )
)
