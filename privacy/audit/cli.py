"""The `privacy audit ...` commands (privacy/cli.py wires them into typer)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from privacy.audit import integrity, queries
from privacy.audit import service as audit
from privacy.audit.chain import ChainBroken
from privacy.audit.queries import AuditFilter
from privacy.audit.worker import AuditWorker
from privacy.config import Settings
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.runtime import build_runtime

CLI = RequestContext(Principal(kind="system", id="cli"))


@contextmanager
def _worker(settings: Settings) -> Iterator[AuditWorker]:
    logging.basicConfig(level=settings.log_level.upper())
    rt = build_runtime(settings)
    worker = AuditWorker(rt)
    try:
        yield worker
    finally:
        worker.monitor.close()
        rt.close()


def _record(worker: AuditWorker, action: str, reason: str) -> None:
    with new_session(worker.rt.engine) as session:
        audit.append(session, CLI, action=action, reason=reason)
        session.commit()


def verify(settings: Settings, console: Console) -> int:
    with _worker(settings) as worker:
        with console.status("verifying the audit log"):
            result = integrity.verify_log(worker, workers=os.cpu_count() or 1)
        bad = result.first_bad
        _record(worker, "audit.verify", "ok" if bad is None else bad.code)
    if bad is not None:
        console.print(
            f"[red]TAMPERED[/red] ({bad.code}) first bad {bad.kind}: {escape(bad.reason)}"
        )
        console.print(f"  entry id={bad.id} position={bad.seq} checkpoint={bad.seal}")
        console.print(f"  {result.checked} entries verified before it")
        return 1
    console.print(
        f"[green]ok[/green]: {result.checked} entries and {result.seals_checked} checkpoints "
        f"verified; head at position {result.head_seq}, sealed through {result.sealed_seq}"
    )
    return 0


def seal(settings: Settings, console: Console) -> int:
    with _worker(settings) as worker:
        try:
            cp = worker.seal(force=True)
        except ChainBroken as exc:
            console.print(f"[red]not sealed: {exc}; run `privacy audit verify`[/red]")
            return 1
        _record(worker, "audit.seal", f"checkpoint={cp.number}")
    console.print(f"[green]sealed[/green] checkpoint {cp.number} at position {cp.seq}")
    return 0


def export(settings: Settings, console: Console, *, output: str, format: str) -> int:
    with _worker(settings) as worker:
        worker.chain()
        _record(worker, "audit.export", f"format={format};filters=none")
        engine = worker.rt.engine
        where = AuditFilter()
        chunks = (
            queries.export_jsonl(engine, where)
            if format == "jsonl"
            else queries.export_csv(engine, where)
        )
        path = Path(output)
        with path.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
    console.print(f"[green]written[/green] {path}")
    return 0


def purge(settings: Settings, console: Console) -> int:
    if not settings.audit_retention_days:
        console.print("PRIVACY_AUDIT_RETENTION_DAYS is not set: the log is kept forever")
        return 0
    with _worker(settings) as worker:
        result = worker.purge()
    if result is None:
        return 0
    if result.refused is not None and result.refused.first_bad is not None:
        console.print(f"[red]purge refused: {result.refused.first_bad.reason}[/red]")
        return 1
    console.print(f"purged {result.purged} entries through position {result.through_seq}")
    return 0
