"""Subjects and records through the HTTP API, against real OpenBao and databases."""

from __future__ import annotations

import base64
import json
import uuid

from sqlalchemy import text

from privacy.runtime import Runtime

ALICE = {
    "name": "Alice Liddell",
    "email": "Alice@Example.org",
    "phone": "+4915112345678",
    "birthday": "1990-05-04",
    "score": 42.5,
    "vip": True,
    "prefs": {"lang": "de", "topics": ["a", "b"]},
}


def new_subject(client, headers, external_id=None, email=None) -> str:
    body = {"external_id": external_id or f"ext-{uuid.uuid4().hex[:8]}"}
    if email:
        body["email"] = email
    r = client.post("/v1/subjects", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_record(client, headers, subject_id, data=None) -> str:
    r = client.post(
        "/v1/collections/customers/records",
        headers=headers,
        json={"subject_id": subject_id, "data": data or ALICE},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


class TestRecordRoundTrip:
    def test_written_record_reads_back_with_every_type(self, client, vault_app):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = client.get(
            f"/v1/collections/customers/records/{rid}?purpose=support", headers=vault_app
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["subject_id"] == sid
        assert body["data"] == {**ALICE, "email": "Alice@example.org"}
        assert r.headers["cache-control"] == "no-store"

    def test_values_are_not_stored_in_plaintext(self, client, vault_app, runtime: Runtime):
        sid = new_subject(client, vault_app, email="carol@example.org")
        new_record(client, vault_app, sid)
        with runtime.engine.connect() as conn:
            dump = json.dumps(
                [
                    list(map(str, row))
                    for t in ("records", "subjects", "blind_index", "audit_log")
                    for row in conn.execute(text(f"SELECT * FROM {t}"))
                ]
            )
        for value in ("Alice Liddell", "4915112345678", "1990-05-04", "carol@example.org"):
            assert value not in dump
            assert base64.b64encode(value.encode()).decode()[:12] not in dump
