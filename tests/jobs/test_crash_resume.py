"""kill -9 in the middle of a purge, then run again: nothing done twice, nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from privacy.context import Principal, RequestContext
from privacy.db import utcnow
from privacy.retention import service
from support.retention import (
    add_collection,
    add_records,
    add_subject,
    count,
    subprocess_env,
    use_policies,
    write_policies,
)

POLICY = """\
[[policy]]
id = "tickets"
collections = ["tickets"]
period = "P30D"
trigger = "created"
action = "delete"
"""
EXPIRED, FRESH, BATCH = 3000, 40, 25


def _wait_for(predicate, *, timeout: float, proc: subprocess.Popen) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"purge ended before it could be killed: {out[-2000:]}")
        time.sleep(0.005)
    raise AssertionError("the purge made no progress in time")


def _batches_logged(rt) -> int:  # type: ignore[no-untyped-def]
    """Purge batches committed so far, read without waiting for the purge: on SQLite the
    service's engine begins every transaction with BEGIN IMMEDIATE, so its reads queue for
    the write lock behind the purge's batches (and SQLite's busy handler backs off for up
    to 100 ms at a time, long enough for the whole purge to finish unseen)."""
    if rt.engine.dialect.name != "sqlite":
        return count(rt, "SELECT COUNT(*) FROM retention_purges")
    with closing(sqlite3.connect(rt.engine.url.database, timeout=30)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM retention_purges").fetchone()[0])


def _column(rt, sql: str) -> list:  # type: ignore[no-untyped-def]
    with rt.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(sql)]


def test_kill_9_mid_purge_then_resume(runtime, tmp_path: Path):
    rt = runtime
    add_collection(rt, "tickets", {"email": "contact"})
    use_policies(rt, POLICY)
    now = utcnow()
    s = add_subject(rt, at=now)
    add_records(rt, "tickets", s, n=EXPIRED, created=now - timedelta(days=40))
    add_records(rt, "tickets", s, n=FRESH, created=now - timedelta(days=1))
    env = subprocess_env(
        rt,
        PRIVACY_RETENTION_FILE=write_policies(tmp_path / "r.toml", POLICY),
        PRIVACY_RETENTION_BATCH_SIZE=str(BATCH),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "privacy.cli", "retention", "purge"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: _batches_logged(rt) >= 3, timeout=120, proc=proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    left = count(rt, "SELECT COUNT(*) FROM records")
    logged = count(rt, "SELECT COALESCE(SUM(count), 0) FROM retention_purges")
    assert 0 < logged < EXPIRED, "killed part-way"
    # Every committed batch has its records gone, its purge-log row and its audit entry.
    assert left == EXPIRED + FRESH - logged
    assert count(rt, "SELECT COUNT(*) FROM audit_log WHERE action = 'retention.delete'") == (
        count(rt, "SELECT COUNT(*) FROM retention_purges")
    )
    assert _column(rt, "SELECT outcome FROM job_runs") == ["running"], "killed: never finished"

    report = service.run_purge(
        rt, RequestContext(Principal(kind="system", id="test")), started_by="cli"
    )
    (p,) = report.policies
    assert p.purged == EXPIRED - logged, "the second run does only what was left"
    assert count(rt, "SELECT COUNT(*) FROM records") == FRESH
    assert count(rt, "SELECT SUM(count) FROM retention_purges") == EXPIRED
    reasons = _column(rt, "SELECT reason FROM audit_log WHERE action = 'retention.delete'")
    assert sum(int(r.rsplit(":", 1)[1]) for r in reasons) == EXPIRED
    outcomes = sorted(_column(rt, "SELECT outcome FROM job_runs"))
    assert outcomes == ["interrupted", "ok"]
