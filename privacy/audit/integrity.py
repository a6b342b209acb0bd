"""Verify, seal and export the public key: what the router, the CLI and the job call."""

from __future__ import annotations

import contextlib

from sqlmodel import Session, col, select

from privacy.audit import chain
from privacy.audit.models import AuditCheckpoint
from privacy.audit.monitor import MONITOR, Alert
from privacy.audit.verify import VerifyResult, load_public_keys, verify
from privacy.audit.worker import AuditWorker
from privacy.errors import Conflict
from privacy.runtime import Runtime


def verify_log(worker: AuditWorker, *, workers: int = 1) -> VerifyResult:
    """Link what is committed, then check the whole log; a failure raises an alert.

    `workers` > 1 checks a large log in parallel processes (the CLI does; the API does not
    start processes inside the server).
    """
    with contextlib.suppress(chain.ChainBroken):  # verification names what is missing
        worker.chain()
    rt = worker.rt
    keys = load_public_keys(rt.transit.public_keys(rt.settings.audit_signing_key))
    result = verify(
        rt.engine.connect,
        public_keys=keys,
        mac_key=rt.audit_key or None,
        workers=workers,
        url=rt.engine.url.render_as_string(hide_password=False),
    )
    if result.first_bad is not None:
        reason = f"verification failed: {result.first_bad.reason}"[:200]
        worker.monitor.raise_alert(Alert("audit_tamper", MONITOR.label, reason, 1, 0, 0.0))
    return result


def seal_now(worker: AuditWorker) -> AuditCheckpoint:
    """Sign the head now; a chain behind its last seal is refused (409), not sealed over."""
    try:
        return worker.seal(force=True)
    except chain.ChainBroken as exc:
        raise Conflict(f"{exc}: sealed entries are missing; run the verification") from None


def public_keys(rt: Runtime) -> dict[str, str]:
    return {str(v): k for v, k in rt.transit.public_keys(rt.settings.audit_signing_key).items()}


def list_checkpoints(session: Session, *, limit: int, before: int | None) -> list[AuditCheckpoint]:
    """Checkpoints, newest first."""
    query = select(AuditCheckpoint)
    if before is not None:
        query = query.where(col(AuditCheckpoint.number) < before)
    query = query.order_by(col(AuditCheckpoint.number).desc()).limit(limit + 1)
    return list(session.exec(query).all())
