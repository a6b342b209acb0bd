"""GET /v1/retention/policies, POST /v1/retention/purge and GET /v1/jobs through HTTP."""

from __future__ import annotations

import pytest

from privacy.scheduling.locks import job_lock
from support.api import audit_rows, user_headers
from support.retention import (
    count,
    seed_tickets_with_dispute,
)


@pytest.fixture
def dpo(client, runtime):
    return user_headers(client, runtime, "dpo")


@pytest.fixture
def seeded(runtime):
    seed_tickets_with_dispute(runtime)
    return runtime


def test_policies_show_what_is_in_force(client, admin, dpo, seeded):
    for who in (admin, dpo):
        r = client.get("/v1/retention/policies", headers=who)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == "test.toml"
        assert [p["id"] for p in body["policies"]] == ["tickets"]
        assert body["holds"][0]["ground"] == "pending dispute"


def test_an_auditor_may_not_purge(client, runtime, seeded):
    auditor = user_headers(client, runtime, "auditor")
    r = client.post("/v1/retention/purge", headers=auditor)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert count(seeded, "SELECT COUNT(*) FROM records") == 5


def test_dry_run_reports_and_changes_nothing(client, dpo, seeded):
    r = client.post("/v1/retention/purge?dry_run=true", headers=dpo)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True
    (p,) = body["policies"]
    assert (p["id"], p["matched"], p["purged"], p["held"]) == ("tickets", 5, 3, 2)
    assert p["held_by"] == [{"hold": "dispute", "ground": "pending dispute", "count": 2}]
    assert count(seeded, "SELECT COUNT(*) FROM records") == 5
    assert count(seeded, "SELECT COUNT(*) FROM job_runs") == 0


def test_purge_runs_audits_with_the_caller_and_records_a_run(client, dpo, seeded):
    r = client.post("/v1/retention/purge", headers=dpo)
    assert r.status_code == 200, r.text
    (p,) = r.json()["policies"]
    assert (p["matched"], p["purged"], p["held"]) == (5, 3, 2)
    assert count(seeded, "SELECT COUNT(*) FROM records") == 2
    (entry,) = audit_rows(seeded, action="retention.delete")
    assert entry["reason"] == "policy:tickets count:3"
    assert entry["actor"].startswith("user:")
    jobs = client.get("/v1/jobs", headers=dpo).json()
    purge = next(j for j in jobs["items"] if j["name"] == "retention-purge")
    assert purge["last_run"]["outcome"] == "ok"
    assert purge["last_run"]["started_by"] == "api"
    assert purge["last_run"]["counts"]["purged"] == 3
    assert purge["schedule"] == "0 3 * * *"
    assert purge["next_run_at"] is not None


def test_purge_while_running_elsewhere_is_409(client, dpo, seeded):
    rt = seeded
    with job_lock(rt.engine, rt.settings.data_dir / "locks", "retention-purge") as got:
        assert got
        r = client.post("/v1/retention/purge", headers=dpo)
    assert r.status_code == 409
    assert "running" in r.json()["detail"]
    assert count(rt, "SELECT COUNT(*) FROM records") == 5


def test_jobs_need_admin_or_dpo(client, runtime):
    auditor = user_headers(client, runtime, "auditor")
    assert client.get("/v1/jobs", headers=auditor).status_code == 403
    assert client.get("/v1/jobs").status_code == 401


def test_jobs_list_every_registered_job(client, admin):
    body = client.get("/v1/jobs", headers=admin).json()
    names = {j["name"] for j in body["items"]}
    assert {"retention-purge", "audit-seal", "key-rotation", "reports"} <= names
    rotation = next(j for j in body["items"] if j["name"] == "key-rotation")
    assert rotation["schedule"] is None and rotation["next_run_at"] is None
    assert body["scheduler_running"] is False
