"""A purge shares the database with the API: on SQLite it gives way to waiting requests,
shrinking its batches while they wait, and copies the WAL back from a connection of its
own; the indexes let bulk deletes find rows without scanning."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from privacy.context import Principal, RequestContext
from privacy.db import checkpoints_aside, make_engine, waiting_for_connection
from privacy.retention import service
from support.retention import add_collection, add_records, add_subject, count, use_policies

CTX = RequestContext(Principal(kind="system", id="test"))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = (
    '[[policy]]\nid = "p"\ncollections = ["tickets"]\nperiod = "P30D"\n'
    'trigger = "created"\naction = "delete"\n'
)


@pytest.fixture
def rt(runtime):
    add_collection(runtime, "tickets", {"email": "contact"})
    use_policies(runtime, POLICY)
    subject = add_subject(runtime, at=NOW - timedelta(days=100))
    add_records(runtime, "tickets", subject, n=1200, created=NOW - timedelta(days=40))
    add_records(runtime, "tickets", subject, n=5, created=NOW - timedelta(days=1))
    return runtime


def _batches(rt) -> int:
    return count(rt, "SELECT COUNT(*) FROM retention_purges WHERE policy_id = 'p'")


def _left(rt) -> tuple[int, int]:
    return (
        count(rt, "SELECT COUNT(*) FROM records WHERE collection = 'tickets'"),
        count(rt, "SELECT COUNT(*) FROM blind_index WHERE collection = 'tickets'"),
    )


class _Requests:
    """Two threads that keep asking for the database, as API requests under load do."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.stop, self.served = engine, threading.Event(), 0
        self.threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.engine.connect() as conn:
                conn.execute(text("SELECT COUNT(*) FROM purposes"))
                self.served += 1
            time.sleep(0.003)  # the request's work outside the database

    def __enter__(self) -> _Requests:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_alone_the_purge_runs_in_full_batches(rt):
    report = service.purge(rt, CTX, now=NOW, batch=400)
    assert report.policies[0].purged == 1200
    assert _left(rt) == (5, 5)
    assert _batches(rt) == 3  # 400 + 400 + 400


def test_with_requests_waiting_it_gives_way_in_smaller_batches(rt):
    with _Requests(rt.engine) as requests:
        report = service.purge(rt, CTX, now=NOW, batch=400)
    assert report.policies[0].purged == 1200
    assert _left(rt) == (5, 5)
    assert requests.served > 0
    if rt.engine.dialect.name == "sqlite":
        # One shared connection: waiting requests halve the next batch (down to 100).
        assert _batches(rt) > 3
    else:
        # A pool of connections: requests never wait for the purge's, so it never yields.
        assert _batches(rt) == 3
    audit = count(rt, "SELECT COUNT(*) FROM audit_log WHERE action = 'retention.delete'")
    assert audit == _batches(rt)  # still one audit entry per batch


def test_give_way_waits_only_while_someone_waits(rt):
    if rt.engine.dialect.name != "sqlite":
        assert service.give_way(rt, 0.05) is False
        return
    assert waiting_for_connection(rt.engine) == 0
    assert service.give_way(rt, 0.05) is False
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            held.set()
            release.wait(10)

    def waiter() -> None:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    held.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    while waiting_for_connection(rt.engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        assert waiting_for_connection(rt.engine) == 1
        assert service.give_way(rt, 0.01) is True
    finally:
        release.set()
        for t in threads:
            t.join()
    assert waiting_for_connection(rt.engine) == 0


def test_wal_is_checkpointed_aside_during_bulk_work(tmp_path):
    path = tmp_path / "bulk.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v BLOB)"))
        before = path.stat().st_size
        names = {t.name for t in threading.enumerate()}
        with checkpoints_aside(engine, every=0.01):
            assert "sqlite-checkpoint" in {t.name for t in threading.enumerate()} - names
            # About 2 MiB: well under wal_autocheckpoint, so only the side connection
            # copies these pages into the database file.
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (randomblob(1000))"), [{}] * 2000)
            deadline = time.monotonic() + 20
            while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert path.stat().st_size >= before + 1_000_000
        assert "sqlite-checkpoint" not in {t.name for t in threading.enumerate()}
    finally:
        engine.dispose()


def test_deleting_a_subject_finds_its_records_by_index(rt):
    """The ON DELETE CASCADE from subjects looks records up by subject_id (0021)."""
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("the query plan checked is SQLite's")
    with rt.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN DELETE FROM subjects WHERE id = 'x'"
        ).fetchall()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "records" in details
    assert "SCAN records" not in details
