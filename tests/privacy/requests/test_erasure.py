"""Erasure requests end to end (executed by privacy.erasure) and the Art. 19 notices that
rectification, restriction and objection requests send to the apps holding the subject.
Real OpenBao, real SQLite and PostgreSQL, a real local HTTP endpoint for the webhooks."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlmodel import select

from privacy.db import new_session
from privacy.webhooks.models import WebhookDelivery
from privacy.webhooks.service import deliver_due
from support.api import (
    CONSENT_APP_SCOPES,
    SAMPLE_CUSTOMER,
    bearer,
    count_rows,
    new_record,
    new_subject,
)
from support.hooks import endpoint
from support.mailbox import subject_headers
from support.requests import REQUESTS, file, read, run_as_dpo


class TestErasureRequests:
    def test_subject_erases_itself_and_gets_a_receipt_that_verifies(
        self, client, app, dpo, me, subject, runtime
    ):
        sid, rid, _ = subject
        r = file(client, me, sid, "erasure")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "completed"
        assert body["result"]["key_destroyed"]["context"] == sid
        assert body["result"]["erased"] == {"customers": 1}
        r = client.get(f"{REQUESTS}/{body['id']}/receipt", headers=me)
        assert r.status_code == 200, r.text
        signed = r.json()
        assert signed["receipt"]["type"] == "erasure"
        assert signed["receipt"]["request_id"] == body["id"]
        assert client.post("/v1/receipts/verify", headers=me, json=signed).json()["valid"]
        signed["receipt"]["erased"] = {"customers": 0}
        assert not client.post("/v1/receipts/verify", headers=me, json=signed).json()["valid"]
        assert read(client, app, rid).status_code == 404
        assert client.get(f"/v1/subjects/{sid}", headers=app).status_code == 404
        assert count_rows(runtime, "subject_signin_codes") == 0
        # The request and its proof outlive the subject.
        again = client.get(f"{REQUESTS}/{body['id']}", headers=dpo)
        assert again.status_code == 200 and again.json()["status"] == "completed"

    def test_app_filed_erasure_run_by_the_dpo_also_destroys_exports(
        self, client, app, dpo, me, subject, settings
    ):
        sid = subject[0]
        export = file(client, me, sid, "access").json()
        assert list((settings.data_dir / "exports").glob("*.pvx"))
        r = file(client, app, sid, "erasure")
        assert r.status_code == 201 and r.json()["status"] == "received"
        done = run_as_dpo(client, dpo, r.json()["id"])
        assert done["status"] == "completed"
        assert done["result"]["exports_destroyed"] == 1
        assert list((settings.data_dir / "exports").glob("*.pvx")) == []
        assert client.get(f"{REQUESTS}/{export['id']}/export", headers=dpo).status_code == 410
        receipt = client.get(f"{REQUESTS}/{r.json()['id']}/receipt", headers=app)
        assert receipt.status_code == 200 and receipt.json()["receipt"]["subject_id"] == sid

    def test_a_receipt_waits_for_completion(self, client, app, subject):
        r = file(client, app, subject[0], "erasure").json()
        assert client.get(f"{REQUESTS}/{r['id']}/receipt", headers=app).status_code == 409


@pytest.fixture
def hook():
    with endpoint() as ep:
        yield ep


@pytest.fixture
def holder(client, admin, app, hook):
    """An app with a webhook endpoint that created the subject (so it holds it): its
    headers, and the subject's id, record id and e-mail address."""
    body = {"name": f"holder-{uuid.uuid4().hex[:6]}", "scopes": CONSENT_APP_SCOPES}
    created = client.post("/v1/apps", headers=admin, json={**body, "webhook_url": hook.url})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    assert client.post(f"/v1/apps/{app_id}/webhook-secret", headers=admin).status_code == 200
    token = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created.json()["client_id"],
            "client_secret": created.json()["client_secret"],
        },
    ).json()["access_token"]
    headers = bearer(token)
    address = f"held-{uuid.uuid4().hex[:6]}@example.org"
    sid = new_subject(client, headers, email=address)
    return headers, sid, new_record(client, headers, sid, SAMPLE_CUSTOMER), address


def _queued(runtime, sid):
    with new_session(runtime.engine) as s:
        rows = s.exec(select(WebhookDelivery).where(WebhookDelivery.subject_id == uuid.UUID(sid)))
        return sorted((d.event, json.dumps(d.payload["details"], sort_keys=True)) for d in rows)


class TestNotices:
    def test_holding_apps_hear_of_rectification_restriction_and_objection(
        self, client, smtp, holder, hook, runtime
    ):
        _, sid, rid, address = holder
        me = subject_headers(client, smtp.mailbox, address)
        changes = {"customers": {rid: {"name": "Alice Pleasance Liddell"}}}
        for type_, extra in (
            ("rectification", {"changes": changes}),
            ("restriction", {"ground": "accuracy_contested"}),
            ("restriction", {"lift": True}),
            ("objection", {"purpose": "marketing"}),
        ):
            r = file(client, me, sid, type_, **extra)
            assert r.status_code == 201, r.text
            assert r.json()["result"]["apps_notified"] == 1
        events = [e for e, _ in _queued(runtime, sid)]
        assert sorted(events) == [
            "subject.objected",
            "subject.rectified",
            "subject.restricted",
            "subject.restriction_lifted",
        ]
        deliver_due(runtime)
        deadline = time.monotonic() + 30
        while len(hook.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(hook.received) == 4
        bodies = [json.loads(h.body) for h in hook.received]
        assert all(h.headers.get("X-Privacy-Signature") for h in hook.received)
        rectified = next(b for b in bodies if b["event"] == "subject.rectified")
        assert rectified["details"]["fields"] == {"customers": {rid: ["name"]}}
        assert all("Liddell" not in h.body.decode() for h in hook.received)
