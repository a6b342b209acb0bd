"""Seal the audit chain head and apply the log's own retention.

The service's audit worker already does this on its timers (`PRIVACY_AUDIT_SEAL_INTERVAL`,
`PRIVACY_AUDIT_RETENTION_DAYS`); this is the same work as a job, for a scheduler or a
separate `privacy worker` process. Safe to re-run: sealing an unchanged head is skipped
unless forced, and purges are idempotent. Logs carry positions and counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from privacy.audit.worker import AuditWorker
from privacy.runtime import Runtime

log = logging.getLogger("jobs.audit_seal")


@dataclass(frozen=True)
class SealOutcome:
    checkpoint: int | None
    sealed_seq: int | None
    purged: int


def run(rt: Runtime, *, force: bool = False) -> SealOutcome:
    worker = AuditWorker(rt)
    try:
        cp = worker.seal(force=force)
        purge = worker.purge()
    finally:
        worker.monitor.close()
    outcome = SealOutcome(
        checkpoint=cp.number if cp else None,
        sealed_seq=cp.seq if cp else None,
        purged=purge.purged if purge else 0,
    )
    log.info(
        "audit seal job: checkpoint=%s position=%s purged=%d",
        outcome.checkpoint,
        outcome.sealed_seq,
        outcome.purged,
    )
    return outcome


def run_job(rt: Runtime, job_run: object) -> dict[str, int | None]:
    """The scheduler's entry point (see privacy.scheduling.registry)."""
    out = run(rt)
    return {"checkpoint": out.checkpoint, "sealed_seq": out.sealed_seq, "purged": out.purged}
