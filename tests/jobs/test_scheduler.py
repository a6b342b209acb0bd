"""The job runner (locks, run records, outcomes) and the APScheduler that triggers it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jobs import scheduler as sched
from privacy.app import create_app
from privacy.db import new_session
from privacy.errors import NotFound
from privacy.runtime import build_runtime
from privacy.scheduling import service
from privacy.scheduling.locks import _file_lock, job_lock, lock_key
from privacy.scheduling.models import JobRun
from support.api import user_headers
from support.retention import count
from support.settings import make_settings


def _runs(rt, job: str) -> list[JobRun]:  # type: ignore[no-untyped-def]
    with new_session(rt.engine) as s:
        return service.recent_runs(s, job=job, limit=100)


class TestRunRecorded:
    def test_ok_run_records_counts(self, runtime):
        run = service.run_recorded(runtime, "t", lambda rt, run: {"done": 3})
        assert (run.outcome, run.counts) == ("ok", {"done": 3})
        (saved,) = _runs(runtime, "t")
        assert saved.finished_at is not None and saved.finished_at >= saved.started_at

    def test_failure_is_recorded_without_the_message_of_foreign_errors(self, runtime):
        def boom(rt, run):  # type: ignore[no-untyped-def]
            raise ValueError("alice@example.org is not valid")  # a value must not leak

        run = service.run_recorded(runtime, "t", boom)
        assert (run.outcome, run.error) == ("error", "ValueError")
        with pytest.raises(ValueError):
            service.run_recorded(runtime, "t", boom, raise_errors=True)

    def test_our_errors_keep_their_detail(self, runtime):
        def missing(rt, run):  # type: ignore[no-untyped-def]
            raise NotFound("collection tickets does not exist")

        run = service.run_recorded(runtime, "t", missing)
        assert run.error == "NotFound: collection tickets does not exist"

    def test_a_held_lock_means_skipped(self, runtime):
        with job_lock(runtime.engine, runtime.settings.data_dir / "locks", "t") as got:
            assert got
            called = []
            run = service.run_recorded(runtime, "t", lambda rt, run: called.append(1) or {})
        assert run.outcome == "skipped" and not called
        locks = runtime.settings.data_dir / "locks"
        with pytest.raises(service.JobAlreadyRunning), job_lock(runtime.engine, locks, "t"):
            service.run_recorded(runtime, "t", lambda rt, r: {}, raise_errors=True)

    def test_a_run_left_running_is_marked_interrupted_by_the_next(self, runtime):
        with new_session(runtime.engine) as s:
            s.add(JobRun(job="t", outcome="running"))
            s.commit()
        service.run_recorded(runtime, "t", lambda rt, run: {})
        assert sorted(r.outcome for r in _runs(runtime, "t")) == ["interrupted", "ok"]


def test_lock_keys_are_stable_and_distinct():
    assert lock_key("retention-purge") == lock_key("retention-purge")
    assert lock_key("retention-purge") != lock_key("key-rotation")
    assert -(2**63) <= lock_key("x") < 2**63


def test_file_locks_exclude_within_one_process(tmp_path: Path):
    # The SQLite path; the PostgreSQL advisory lock is exercised by the router and
    # two-worker tests, which run on both backends.
    with _file_lock(tmp_path, "a") as first:
        with _file_lock(tmp_path, "a") as second:
            assert (first, second) == (True, False)
        with _file_lock(tmp_path, "b") as other:
            assert other
    with _file_lock(tmp_path, "a") as again:
        assert again, "released when the holder leaves"


class TestScheduler:
    def test_jobs_follow_the_settings(self, runtime):
        names = {j.id for j in sched.build(runtime).get_jobs()}
        cleanups = {"tombstone-replay", "hold-expiry", "webhook-retries", "auth-cleanup"}
        assert names == {"retention-purge", "audit-seal", "reports"} | cleanups
        runtime.settings = runtime.settings.model_copy(
            update={"key_rotation_schedule": "0 4 1 */3 *", "report_schedule": ""}
        )
        names = {j.id for j in sched.build(runtime).get_jobs()}
        assert names == {"retention-purge", "audit-seal", "key-rotation"} | cleanups

    def test_serve_with_the_scheduler_runs_jobs_and_lists_next_runs(
        self, dev_vault, tmp_path, engine
    ):
        settings = make_settings(
            dev_vault,
            tmp_path,
            scheduler="on",
            retention_schedule="every 1",
            report_schedule="",
            audit_seal_interval=0,
        )
        rt = build_runtime(settings, engine=engine)
        with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as client:
            dpo = user_headers(client, rt, "dpo")
            deadline = time.monotonic() + 60
            while count(rt, "SELECT COUNT(*) FROM job_runs WHERE outcome = 'ok'") < 1:
                assert time.monotonic() < deadline, "the scheduled purge never ran"
                time.sleep(0.1)
            body = client.get("/v1/jobs", headers=dpo).json()
            assert body["scheduler_running"] is True
            purge = next(j for j in body["items"] if j["name"] == "retention-purge")
            assert purge["schedule"] == "every 1"
            assert purge["next_run_at"] is not None
            assert purge["last_run"]["started_by"] == "schedule"
        assert service.live_next_runs() is None, "stopped with the app"
