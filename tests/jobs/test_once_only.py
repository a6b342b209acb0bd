"""Two `privacy worker` processes on one database: each purge happens once.

On PostgreSQL the workers exclude each other with an advisory lock, on SQLite with a file
lock; the loser of a race records a skipped run instead of doing the work again.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from privacy.db import utcnow
from support.retention import (
    add_collection,
    add_records,
    add_subject,
    count,
    subprocess_env,
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
EXPIRED, FRESH = 2000, 10


def _rows(rt, sql: str) -> list:  # type: ignore[no-untyped-def]
    with rt.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql))


def test_two_workers_purge_each_record_once(runtime, tmp_path: Path):
    rt = runtime
    add_collection(rt, "tickets", {"email": "contact"})
    now = utcnow()
    s = add_subject(rt, at=now)
    add_records(rt, "tickets", s, n=EXPIRED, created=now - timedelta(days=40))
    add_records(rt, "tickets", s, n=FRESH, created=now)
    env = subprocess_env(
        rt,
        PRIVACY_RETENTION_FILE=write_policies(tmp_path / "r.toml", POLICY),
        # Small batches make a run last longer than the one-second schedule, so the two
        # workers do race (asserted below).
        PRIVACY_RETENTION_BATCH_SIZE="5",
        PRIVACY_RETENTION_SCHEDULE="every 1",
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "privacy.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = count(rt, "SELECT COUNT(*) FROM records") == FRESH
            finished = count(rt, "SELECT COUNT(*) FROM job_runs WHERE outcome IN ('ok', 'skipped')")
            if done and finished >= 4:
                break
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.2)
        else:
            raise AssertionError("the workers did not purge in time")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(10)
            if w.stderr:
                w.stderr.close()

    assert count(rt, "SELECT SUM(count) FROM retention_purges") == EXPIRED
    reasons = _rows(rt, "SELECT reason FROM audit_log WHERE action = 'retention.delete'")
    assert sum(int(r[0].rsplit(":", 1)[1]) for r in reasons) == EXPIRED
    runs = _rows(rt, "SELECT outcome, started_at, finished_at, counts FROM job_runs")
    ok = sorted(
        (r[1], r[2], r[3] if isinstance(r[3], dict) else json.loads(r[3]))
        for r in runs
        if r[0] == "ok"
    )
    assert sum(c["purged"] for _, _, c in ok) == EXPIRED
    for (_, end, _), (start, _, _) in itertools.pairwise(ok):
        assert end <= start, "two runs of the purge overlapped"
    assert any(r[0] == "skipped" for r in runs), "the workers never raced (nothing proven)"
    assert not any(r[0] == "error" for r in runs)
