"""Art. 19 webhooks to the apps that hold an erased subject, against a real HTTP server."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from privacy.app import create_app
from privacy.db import new_session, utcnow
from privacy.webhooks import signing
from privacy.webhooks.models import DELIVERED, FAILED, PENDING, WebhookAttempt, WebhookDelivery
from privacy.webhooks.service import deliver_due
from support.api import FULL_APP_SCOPES, bearer, setup_customers, user_headers
from support.erasure import distinctive, erase
from support.hooks import endpoint
from support.settings import make_settings

BASE = 0.5


@pytest.fixture
def settings(dev_vault, tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(
        dev_vault, tmp_path, webhook_retry_base=BASE, webhook_max_attempts=3, webhook_timeout=5
    )


def _app(client, admin, url=None):  # type: ignore[no-untyped-def]
    body = {"name": f"app-{uuid.uuid4().hex[:6]}", "scopes": FULL_APP_SCOPES}
    if url:
        body["webhook_url"] = url
    created = client.post("/v1/apps", headers=admin, json=body).json()
    token = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    ).json()["access_token"]
    secret = client.post(f"/v1/apps/{created['id']}/webhook-secret", headers=admin)
    assert secret.status_code == 200, secret.text
    return created["id"], bearer(token), secret.json()["secret"]


def _holder_setup(runtime, url_writer, url_reader, url_bystander):  # type: ignore[no-untyped-def]
    """Three apps with endpoints: one writes the subject, one reads it, one never sees it.
    Run with the app's lifespan ended afterwards, so no background sender interferes."""
    with TestClient(create_app(runtime=runtime)) as client:
        admin = user_headers(client, runtime, "admin")
        setup_customers(client, admin)
        writer = _app(client, admin, url_writer)
        reader = _app(client, admin, url_reader)
        bystander = _app(client, admin, url_bystander)
        values = distinctive()
        sid = client.post(
            "/v1/subjects", headers=writer[1], json={"external_id": values["email"]}
        ).json()["id"]
        rid = client.post(
            "/v1/collections/customers/records",
            headers=writer[1],
            json={"subject_id": sid, "data": values},
        ).json()["id"]
        read = client.get(
            f"/v1/collections/customers/records/{rid}",
            headers=reader[1],
            params={"purpose": "support"},
        )
        assert read.status_code == 200
    return sid, values, writer, reader, bystander


def _deliveries(rt):  # type: ignore[no-untyped-def]
    with new_session(rt.engine) as s:
        return s.exec(select(WebhookDelivery)).all()


def _attempts(rt, delivery_id):  # type: ignore[no-untyped-def]
    with new_session(rt.engine) as s:
        q = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
        return s.exec(q.order_by(col(WebhookAttempt.attempt))).all()


class TestDeliverDue:
    def test_apps_that_wrote_or_read_the_subject_get_a_signed_notice(self, runtime):
        with endpoint() as w, endpoint() as r, endpoint() as b:
            sid, values, writer, reader, _ = _holder_setup(runtime, w.url, r.url, b.url)
            result = erase(runtime, sid)
            assert result["receipt"]["apps_notified"] == 2
            assert deliver_due(runtime) == 2
            assert b.received == []
            for hook, (_, _, secret) in ((w, writer), (r, reader)):
                (got,) = hook.received
                ts = int(got.headers["X-Privacy-Timestamp"])
                sig = got.headers["X-Privacy-Signature"]
                assert signing.verify(secret, ts, got.body, sig, now=time.time())
                assert not signing.verify(secret, ts, got.body + b" ", sig, now=time.time())
                assert not signing.verify(secret, ts - 1, got.body, sig, now=time.time())
                assert not signing.verify(secret, ts, got.body, sig, now=time.time() + 3600)
                payload = json.loads(got.body)
                assert payload["event"] == got.headers["X-Privacy-Event"] == "subject.erased"
                assert payload["subject_id"] == sid
                assert payload["id"] == got.headers["X-Privacy-Delivery"]
                for value in values.values():
                    assert str(value) not in got.body.decode()
        assert {d.status for d in _deliveries(runtime)} == {DELIVERED}
        assert deliver_due(runtime) == 0  # nothing is sent twice

    def test_a_failing_endpoint_is_retried_with_backoff_until_it_recovers(self, runtime):
        with endpoint([500, 503]) as w, endpoint() as r, endpoint() as b:
            sid, *_ = _holder_setup(runtime, w.url, r.url, b.url)
            erase(runtime, sid)
            now = utcnow()
            assert deliver_due(runtime, now) == 2
            (failing,) = [d for d in _deliveries(runtime) if d.status == PENDING]
            assert failing.attempts == 1 and failing.last_status == 500
            # Not due again before the backoff has passed.
            assert deliver_due(runtime, now) == 0
            waits = [failing.next_attempt_at - _attempts(runtime, failing.id)[-1].at]
            assert deliver_due(runtime, failing.next_attempt_at) == 1
            (failing,) = [d for d in _deliveries(runtime) if d.status == PENDING]
            assert failing.attempts == 2 and failing.last_status == 503
            waits.append(failing.next_attempt_at - _attempts(runtime, failing.id)[-1].at)
            assert waits == [timedelta(seconds=BASE), timedelta(seconds=2 * BASE)]
            assert deliver_due(runtime, failing.next_attempt_at) == 1
            attempts = _attempts(runtime, failing.id)
            assert [a.status_code for a in attempts] == [500, 503, 200]
            assert [a.error for a in attempts] == ["HTTP 500", "HTTP 503", None]
            assert len(w.received) == 3
            ids = {h.headers["X-Privacy-Delivery"] for h in w.received}
            assert ids == {str(failing.id)}  # retries carry the same delivery id
        assert {d.status for d in _deliveries(runtime)} == {DELIVERED}

    def test_an_endpoint_that_never_recovers_is_marked_failed(self, runtime):
        with endpoint([500] * 10) as w, endpoint() as r, endpoint() as b:
            sid, *_ = _holder_setup(runtime, w.url, r.url, b.url)
            erase(runtime, sid)
            deliver_due(runtime)
            later = utcnow()
            for _ in range(4):
                later += timedelta(hours=7)
                deliver_due(runtime, later)
            (failed,) = [d for d in _deliveries(runtime) if d.status != DELIVERED]
            assert failed.status == FAILED and failed.attempts == 3
            assert len(_attempts(runtime, failed.id)) == 3

    def test_an_unreachable_endpoint_is_recorded_as_an_attempt(self, runtime):
        with endpoint() as r, endpoint() as b:
            dead = "http://127.0.0.1:9/unreachable"
            sid, *_ = _holder_setup(runtime, dead, r.url, b.url)
            erase(runtime, sid)
            deliver_due(runtime)
        (pending,) = [d for d in _deliveries(runtime) if d.status == PENDING]
        (attempt,) = _attempts(runtime, pending.id)
        assert attempt.status_code is None and attempt.error == "ConnectError"


class TestSender:
    def test_the_in_process_sender_delivers_after_the_erasure_commits(self, runtime):
        with endpoint() as w, endpoint() as r, endpoint() as b:
            sid, *_ = _holder_setup(runtime, w.url, r.url, b.url)
            with TestClient(create_app(runtime=runtime)) as client:
                erase(runtime, sid)
                assert w.got.wait(30) and r.got.wait(30)
                admin = user_headers(client, runtime, "admin")
                listed = client.get(
                    "/v1/webhooks/deliveries", headers=admin, params={"subject_id": sid}
                )
                assert listed.status_code == 200
                items = listed.json()["items"]
                assert len(items) == 2
                for item in items:
                    assert item["history"][0]["status_code"] == 200
                    assert item["status"] == DELIVERED


class TestSecretEndpoint:
    def test_only_admins_rotate_secrets_and_each_rotation_changes_it(self, client, admin, runtime):
        app_id, app_auth, first = _app(client, admin, "https://example.org/hook")
        second = client.post(f"/v1/apps/{app_id}/webhook-secret", headers=admin).json()
        assert second["secret"] != first and second["secret"].startswith("whsec_")
        refused = client.post(f"/v1/apps/{app_id}/webhook-secret", headers=app_auth)
        assert refused.status_code == 403
        missing = client.post(f"/v1/apps/{uuid.uuid4()}/webhook-secret", headers=admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
