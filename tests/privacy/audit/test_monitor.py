"""Security monitoring: the rules raise a `security.*` entry, a metric and a webhook alert
(to a real HTTP server on 127.0.0.1), and can suspend the principal."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from privacy.audit.monitor import Monitor
from privacy.audit.worker import AuditWorker
from privacy.metrics import Metrics
from support.api import make_user
from support.records import new_record, new_subject


class Hook:
    """A webhook receiver: collects the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.arrived = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.arrived:
                    hook.raw.append(body)
                    hook.bodies.append(json.loads(body))
                    hook.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies) >= n, timeout)
        return self.bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def monitored(runtime, hook):
    """A worker whose monitor uses tight thresholds and posts to `hook`."""
    made: list[AuditWorker] = []

    def make(**settings: Any) -> AuditWorker:
        runtime.settings = runtime.settings.model_copy(
            update={"audit_alert_webhook_url": hook.url, **settings}
        )
        w = AuditWorker(runtime, metrics=Metrics())
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def _security(db, rule: str) -> list[Any]:
    return db.rows(
        "SELECT actor, outcome, reason, client_ip FROM audit_log WHERE action = :a ORDER BY id",
        a=f"security.{rule}",
    )


def _count(worker: AuditWorker, rule: str) -> float:
    return (
        worker.metrics.registry.get_sample_value("privacy_security_events_total", {"rule": rule})
        or 0.0
    )


class TestFailedLogins:
    def test_repeated_failures_for_one_account_alert_once(
        self, client, runtime, monitored, hook, db
    ):
        worker = monitored(audit_monitor_login_failures=3)
        email = make_user(runtime, roles=["dpo"])
        user_id = db.scalar("SELECT id FROM users WHERE email = :e", e=email)
        for _ in range(5):
            r = client.post("/v1/auth/login", json={"email": email, "password": "Wrong-1!aa"})
            assert r.status_code == 401
        worker.chain()
        events = _security(db, "login_failures")
        assert len(events) == 1  # not one per failure past the threshold
        actor, outcome, reason, ip = events[0]
        assert actor == f"user:{uuid.UUID(str(user_id))}" and outcome == "alert"
        assert reason == "3 refused logins in 300 s" and ip
        assert _count(worker, "login_failures") == 1
        alert = hook.wait()[0]
        assert alert["rule"] == "login_failures" and alert["count"] == 3
        assert email not in hook.raw[0].decode() and "Wrong-1!aa" not in hook.raw[0].decode()

    def test_failures_spread_over_more_than_the_window_do_not_alert(self, runtime, monitored, db):
        worker = monitored(audit_monitor_login_failures=3, audit_monitor_window=60)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            _row("auth.login", "user:u1", "denied", at=start + timedelta(seconds=45 * i))
            for i in range(4)
        ]
        worker.monitor.observe(rows, [])
        assert _security(db, "login_failures") == []

    def test_many_refusals_from_one_ip_flag_it(self, client, runtime, monitored, hook, db):
        worker = monitored(audit_monitor_ip_failures=4)
        for i in range(4):
            client.post("/v1/auth/login", json={"email": f"x{i}@example.org", "password": "a"})
        worker.chain()
        events = _security(db, "suspicious_ip")
        assert len(events) == 1 and events[0][0] == "system:monitor" and events[0][3]
        assert hook.wait()[0]["client_ip"] == events[0][3]


class TestUnusualAccess:
    def test_reading_more_subjects_than_the_ceiling_alerts_and_suspends(
        self, client, vault_app, runtime, monitored, hook, db
    ):
        worker = monitored(audit_monitor_subjects_per_minute=3, audit_monitor_suspend=True)
        records = [
            new_record(client, vault_app, new_subject(client, vault_app), {"name": "N"})
            for _ in range(4)
        ]
        for rid in records:
            r = client.get(
                f"/v1/collections/customers/records/{rid}?purpose=support", headers=vault_app
            )
            assert r.status_code == 200
        worker.chain()
        events = _security(db, "subjects_ceiling")
        assert len(events) == 1 and events[0][0].startswith("app:")
        assert events[0][2] == "4 distinct subjects read in 60 s (ceiling 3)"
        assert db.rows("SELECT reason FROM audit_log WHERE action = 'security.suspend'") == [
            (f"suspended {events[0][0]}",)
        ]
        assert client.get("/v1/purposes", headers=vault_app).status_code == 401
        assert hook.wait()[0]["suspended"] is True

    def test_a_burst_far_above_the_usual_rate_alerts(self, runtime, monitored, db):
        worker = monitored(audit_monitor_rate_factor=5.0)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        usual = [
            _row(
                "record.read",
                "app:a1",
                "ok",
                at=start + timedelta(minutes=m, seconds=s),
                subject=f"s{m}-{s}",
            )
            for m in range(40)
            for s in (10, 40)
        ]
        burst_at = start + timedelta(minutes=41)
        burst = [
            _row("record.read", "app:a1", "ok", at=burst_at + timedelta(seconds=i), subject=f"b{i}")
            for i in range(25)
        ]
        worker.monitor.observe(usual, [])
        assert _security(db, "subjects_rate") == []
        worker.monitor.observe(burst, [])
        events = _security(db, "subjects_rate")
        assert len(events) == 1
        assert events[0][2] == "21 distinct subjects read in 60 s, usually 2.0 per minute"


class TestTamperAlerts:
    def test_a_forged_row_reaching_the_chainer_alerts(self, runtime, monitored, hook, write, db):
        worker = monitored()
        write(2)
        db.exec(
            "INSERT INTO audit_log (at, actor, actor_type, action, outcome) "
            "SELECT at, actor, actor_type, 'record.delete', outcome FROM audit_log"
        )
        worker.chain()
        events = _security(db, "audit_tamper")
        assert len(events) == 1 and "not written by the service" in events[0][2]
        assert hook.wait()[0]["rule"] == "audit_tamper"

    def test_a_webhook_that_is_down_is_counted_not_fatal(self, runtime, write, db):
        runtime.settings = runtime.settings.model_copy(
            update={"audit_alert_webhook_url": "http://127.0.0.1:9/nothing"}
        )
        metrics = Metrics()
        monitor = Monitor(runtime.settings, runtime.engine, metrics=metrics)
        monitor.observe([], [1])
        monitor.sender.close(timeout=15)
        assert metrics.registry.get_sample_value("privacy_security_alert_failures_total") == 1
        assert len(_security(db, "audit_tamper")) == 1


def _row(
    action: str,
    actor: str,
    outcome: str,
    *,
    at: datetime,
    subject: str | None = None,
    ip: str | None = "10.1.1.1",
) -> tuple[Any, ...]:
    """A linked entry as the chainer hands it to the monitor (chain.ROW_COLUMNS order)."""
    kind = actor.split(":")[0]
    return (
        1,
        1,
        "",
        "",
        action,
        actor,
        kind,
        at,
        ip,
        None,
        None,
        outcome,
        None,
        None,
        None,
        None,
        subject,
    )
