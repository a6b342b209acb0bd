"""The erasure, webhook and auth clean-ups as scheduled jobs: run through the job runner
(recorded in job_runs, shown at GET /v1/jobs) against real Vault and both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from privacy.context import Principal, RequestContext
from privacy.db import new_session, utcnow
from privacy.erasure import tombstones
from privacy.erasure.models import Erasure
from privacy.retention import service as retention
from privacy.scheduling import service
from privacy.security.models import IpBlock
from privacy.subjects.models import Subject
from support.api import user_headers
from support.retention import add_collection, add_records, add_subject, count, use_policies

CTX = RequestContext(Principal(kind="system", id="test"))
DAY = timedelta(days=1)
POLICY = (
    '[[policy]]\nid = "idle"\ncollections = ["tickets", "invoices"]\nperiod = "P1Y"\n'
    'trigger = "subject_inactive"\naction = "erase_subject"\n'
)
HOLD = '[[hold]]\nid = "tax"\ncollections = ["invoices"]\nperiod = "P3Y"\nground = "tax law"\n'


def _erase_idle(rt, *, hold=False):
    add_collection(rt, "tickets", {"email": "contact"})
    add_collection(rt, "invoices", {"amount": "financial"})
    use_policies(rt, POLICY + (HOLD if hold else ""))
    now = utcnow()
    sid = add_subject(rt, at=now - 800 * DAY)
    add_records(rt, "tickets", sid, created=now - 700 * DAY)
    add_records(rt, "invoices", sid, created=now - 700 * DAY, fields=["amount"])
    retention.purge(rt, CTX, now=now)
    return sid


def _last(client, headers, name):
    body = client.get("/v1/jobs", headers=headers).json()
    return next(j for j in body["items"] if j["name"] == name)


def test_jobs_are_registered_with_their_schedules(client, admin):
    body = client.get("/v1/jobs", headers=admin).json()
    got = {j["name"]: j["schedule"] for j in body["items"]}
    assert got["tombstone-replay"] == "0 4 * * *"
    assert got["hold-expiry"] == "30 3 * * *"
    assert got["webhook-retries"] == "every 60"
    assert got["auth-cleanup"] == "every 3600"


def test_tombstone_replay_erases_a_restored_subject(client, runtime):
    sid = _erase_idle(runtime)
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 0
    # A restore from an older backup brings the subject and a record back.
    with new_session(runtime.engine) as s:
        s.add(
            Subject(
                id=sid,
                external_id_index=uuid.uuid4().hex,
                external_id_sealed=b"x",
                wrapped_dek="vault:v1:restored",
                created_by="test",
            )
        )
        s.commit()
    add_records(runtime, "tickets", sid, created=utcnow() - 700 * DAY)
    run = service.run_named(runtime, "tombstone-replay", started_by="test")
    assert (run.outcome, run.counts) == ("ok", {"erased": 1})
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 0
    assert count(runtime, "SELECT COUNT(*) FROM records") == 0
    again = service.run_named(runtime, "tombstone-replay", started_by="test")
    assert again.counts == {"erased": 0}
    last = _last(client, user_headers(client, runtime, "dpo"), "tombstone-replay")["last_run"]
    assert (last["outcome"], last["counts"], last["started_by"]) == ("ok", {"erased": 0}, "test")


def test_hold_expiry_finishes_an_erasure_once_the_hold_ended(client, runtime):
    sid = _erase_idle(runtime, hold=True)
    assert count(runtime, "SELECT COUNT(*) FROM records") == 1  # the held invoice
    run = service.run_named(runtime, "hold-expiry", started_by="test")
    assert run.counts == {"erasures": 0}, "the hold is still in force"
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 1
    # Time passes: the held invoice is now older than the hold's three years.
    with new_session(runtime.engine) as s:
        s.execute(
            text("UPDATE records SET created_at = :t WHERE collection = 'invoices'"),
            {"t": utcnow() - 4 * 366 * DAY},
        )
        erasure = s.get(Erasure, sid)
        erasure.hold_until = utcnow() - DAY
        s.add(erasure)
        s.commit()
    run = service.run_named(runtime, "hold-expiry", started_by="test")
    assert (run.outcome, run.counts) == ("ok", {"erasures": 1})
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 0
    assert count(runtime, "SELECT COUNT(*) FROM records") == 0
    stone = tombstones.read(tombstones.store(runtime), sid)
    assert stone is not None and stone["status"] == "completed"
    last = _last(client, user_headers(client, runtime, "dpo"), "hold-expiry")["last_run"]
    assert last["counts"] == {"erasures": 1}


def test_webhook_retries_run_and_are_recorded(client, runtime):
    run = service.run_named(runtime, "webhook-retries", started_by="test")
    assert (run.outcome, run.counts) == ("ok", {"attempts": 0})
    assert count(runtime, "SELECT COUNT(*) FROM job_runs WHERE job = 'webhook-retries'") == 1


def test_auth_cleanup_deletes_expired_ip_blocks_only(client, runtime, admin):
    with new_session(runtime.engine) as s:
        s.add(IpBlock(ip="192.0.2.1", reason="test", expires_at=utcnow() - DAY))
        s.add(IpBlock(ip="192.0.2.2", reason="test", expires_at=utcnow() + DAY))
        s.commit()
    run = service.run_named(runtime, "auth-cleanup", started_by="test")
    assert (run.outcome, run.counts) == ("ok", {"deleted": 1})
    with runtime.engine.connect() as c:
        assert [r[0] for r in c.execute(text("SELECT ip FROM ip_blocks"))] == ["192.0.2.2"]
    assert _last(client, admin, "auth-cleanup")["last_run"]["counts"] == {"deleted": 1}
