"""The audit API: query, export, verify, seal, public key and a subject's access log."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from privacy.app import create_app
from privacy.audit import queries
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.errors import Forbidden
from support.api import user_headers
from support.records import new_record, new_subject

OFFLINE = Path(__file__).resolve().parents[3] / "privacy" / "audit" / "offline_verify.py"


@pytest.fixture
def auditor(client, runtime):
    return user_headers(client, runtime, "auditor")


@pytest.fixture
def dpo(client, runtime):
    return user_headers(client, runtime, "dpo")


def _read(client, app, rid):
    r = client.get(f"/v1/collections/customers/records/{rid}?purpose=support", headers=app)
    assert r.status_code == 200, r.text


def _activity(client, app) -> tuple[str, str]:
    """Two subjects, with a record each, one read each and one refused read of `a`."""
    a, b = new_subject(client, app), new_subject(client, app)
    ra, rb = new_record(client, app, a, {"name": "A"}), new_record(client, app, b, {"name": "B"})
    _read(client, app, ra)
    _read(client, app, rb)
    r = client.get(f"/v1/collections/customers/records/{ra}?purpose=nope", headers=app)
    assert r.status_code == 404
    return a, b


class TestAccess:
    @pytest.mark.parametrize("path", ["/v1/audit", "/v1/audit/verify", "/v1/audit/export"])
    def test_apps_and_admins_cannot_read_the_log(self, client, admin, vault_app, path):
        assert client.get(path, headers=vault_app).status_code == 403
        assert client.get(path, headers=admin).status_code == 403

    def test_the_public_key_needs_no_token(self, client, runtime):
        r = client.get("/v1/audit/public-key")
        assert r.status_code == 200
        body = r.json()
        assert body["algorithm"] == "ed25519" and body["keys"]["1"]
        assert body["key_name"] == runtime.settings.audit_signing_key

    def test_the_endpoints_are_in_the_openapi_document(self, client):
        paths = client.get("/openapi.json").json()["paths"]
        for p in ("verify", "seal", "seals", "public-key", "export"):
            assert f"/v1/audit/{p}" in paths
        assert "/v1/audit" in paths and "/v1/subjects/{subject_id}/access-log" in paths


class TestQuery:
    def test_filters_select_exactly_the_matching_entries(self, client, vault_app, auditor):
        a, _ = _activity(client, vault_app)
        r = client.get(f"/v1/audit?subject_id={a}", headers=auditor)
        assert r.status_code == 200
        items = r.json()["items"]
        assert {i["subject_id"] for i in items} == {a}
        assert [(i["action"], i["outcome"]) for i in items] == [
            ("record.read", "denied"),
            ("record.read", "ok"),
            ("record.create", "ok"),
            ("subject.create", "ok"),
        ]
        reads = client.get("/v1/audit?action=record.*&outcome=ok", headers=auditor).json()
        assert {i["action"] for i in reads["items"]} == {"record.read", "record.create"}
        denied = client.get("/v1/audit?outcome=denied", headers=auditor).json()["items"]
        assert [i["reason"] for i in denied] == ["purpose_unknown"]
        actor = denied[0]["actor"]
        assert all(
            i["actor"] == actor
            for i in client.get(f"/v1/audit?actor={actor}", headers=auditor).json()["items"]
        )

    def test_time_filters_and_cursor_paging(self, client, vault_app, auditor, runtime):
        _activity(client, vault_app)
        seen, cursor = [], None
        while True:
            url = "/v1/audit?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(url, headers=auditor).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
        future = client.get("/v1/audit?since=2999-01-01T00:00:00Z", headers=auditor).json()
        assert future["items"] == []
        past = client.get("/v1/audit?until=2000-01-01T00:00:00", headers=auditor).json()
        assert past["items"] == []
        assert client.get("/v1/audit?limit=1001", headers=auditor).status_code == 422
        assert client.get("/v1/audit?cursor=junk", headers=auditor).status_code == 400

    def test_reading_the_log_is_itself_logged(self, client, auditor, runtime):
        client.get("/v1/audit?action=record.read", headers=auditor)
        client.get("/v1/audit?action=audit.query", headers=auditor)
        r = client.get("/v1/audit?action=audit.query", headers=auditor).json()["items"]
        assert r[0]["reason"] == "filters=action"


class TestExport:
    def test_jsonl_has_the_checkpoints_then_entries_in_chain_order(
        self, client, vault_app, auditor
    ):
        _activity(client, vault_app)
        assert client.post("/v1/audit/seal", headers=auditor).status_code == 201
        r = client.get("/v1/audit/export?format=jsonl", headers=auditor)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.text.splitlines()]
        assert lines[0]["type"] == "checkpoint" and lines[0]["signature"].startswith("vault:v")
        entries = [x for x in lines if x["type"] == "entry"]
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))

    def test_csv_export(self, client, vault_app, auditor):
        a, _ = _activity(client, vault_app)
        r = client.get(f"/v1/audit/export?format=csv&subject_id={a}", headers=auditor)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["action"] for row in rows][:3] == [
            "subject.create",
            "record.create",
            "record.read",
        ]
        assert rows[2]["fields"] == "name" and rows[2]["purpose"] == "support"
        assert rows[3]["outcome"] == "denied"

    def test_an_export_verifies_offline_and_tampering_is_caught(
        self, client, vault_app, auditor, tmp_path
    ):
        _activity(client, vault_app)
        client.post("/v1/audit/seal", headers=auditor)
        _activity(client, vault_app)
        client.post("/v1/audit/seal", headers=auditor)
        log, key = tmp_path / "audit.jsonl", tmp_path / "key.json"
        log.write_bytes(client.get("/v1/audit/export", headers=auditor).content)
        key.write_text(client.get("/v1/audit/public-key").text)
        ok = _offline(log, key)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("ok: ")

        lines = log.read_text().splitlines()
        edited = [json.loads(x) for x in lines]
        victim = next(x for x in edited if x.get("action") == "record.read")
        victim["purpose"] = "marketing"
        log.write_text("\n".join(json.dumps(x) for x in edited))
        bad = _offline(log, key)
        assert bad.returncode == 1 and f"entry {victim['id']}" in bad.stderr

        log.write_text("\n".join(lines[:-6]))  # the newest sealed entries dropped
        assert "truncated" in _offline(log, key).stderr


def _offline(log: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(OFFLINE), str(log), str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestVerifyAndSeal:
    def test_a_clean_log_verifies_over_http(self, client, vault_app, auditor, dpo):
        _activity(client, vault_app)
        client.post("/v1/audit/seal", headers=dpo)
        body = client.get("/v1/audit/verify", headers=auditor).json()
        assert body["ok"] is True and body["first_bad"] is None and body["checked"] > 5
        assert body["seals_checked"] == 1

    def test_tampering_is_named_over_http(self, client, vault_app, auditor, runtime):
        from sqlalchemy import text

        _activity(client, vault_app)
        client.post("/v1/audit/seal", headers=auditor)
        with runtime.engine.begin() as conn:
            victim = conn.execute(
                text("SELECT id FROM audit_log WHERE action = 'record.read' ORDER BY id")
            ).scalar()
            conn.execute(text("UPDATE audit_log SET purpose = 'x' WHERE id = :i"), {"i": victim})
        body = client.get("/v1/audit/verify", headers=auditor).json()
        assert body["ok"] is False
        assert body["first_bad"]["id"] == victim and body["first_bad"]["code"] == "altered"
        assert str(victim) in body["reason"]
        assert client.get("/v1/audit?action=security.audit_tamper", headers=auditor).json()["items"]

    def test_sealing_needs_a_staff_role(self, client, vault_app, admin, auditor):
        assert client.post("/v1/audit/seal", headers=vault_app).status_code == 403
        first = client.post("/v1/audit/seal", headers=admin).json()
        second = client.post("/v1/audit/seal", headers=auditor).json()
        assert second["number"] == first["number"] + 1 and second["seq"] > first["seq"]
        page = client.get("/v1/audit/seals?limit=1", headers=auditor).json()
        assert page["items"][0]["number"] == second["number"] and page["next_cursor"]
        rest = client.get(f"/v1/audit/seals?cursor={page['next_cursor']}", headers=auditor)
        assert [s["number"] for s in rest.json()["items"]] == [first["number"]]

    def test_the_background_worker_links_and_seals(self, runtime, vault_app, client):
        runtime.settings = runtime.settings.model_copy(
            update={"audit_chain_interval": 0.05, "audit_seal_interval": 0.1}
        )
        with TestClient(create_app(runtime=runtime)) as other:
            new_subject(other, vault_app)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                from sqlalchemy import text

                with runtime.engine.connect() as conn:
                    pending = conn.execute(
                        text("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
                    ).scalar()
                    sealed = conn.execute(text("SELECT MAX(seq) FROM audit_checkpoints")).scalar()
                    head = conn.execute(text("SELECT MAX(seq) FROM audit_log")).scalar()
                if pending == 0 and sealed and sealed == head:
                    break
                time.sleep(0.05)
            assert pending == 0 and sealed == head
            metrics = other.get("/metrics").text
            assert "privacy_audit_entries_chained_total" in metrics


class TestAccessLog:
    def test_the_dpo_sees_who_accessed_a_subject_and_why(self, client, vault_app, dpo):
        a, _ = _activity(client, vault_app)
        r = client.get(f"/v1/subjects/{a}/access-log", headers=dpo)
        assert r.status_code == 200
        items = r.json()["items"]
        assert [(i["action"], i["outcome"], i["purpose"]) for i in items] == [
            ("record.read", "denied", "nope"),  # refused attempts on its data count too
            ("record.read", "ok", "support"),
            ("record.create", "ok", None),
            ("subject.create", "ok", None),
        ]
        assert items[1]["fields"] == ["name"]
        assert items[1]["actor_type"] == "app" and items[1]["actor_name"].startswith("app-")
        assert "client_ip" not in items[1]

    def test_apps_cannot_read_an_access_log(self, client, vault_app):
        a = new_subject(client, vault_app)
        assert client.get(f"/v1/subjects/{a}/access-log", headers=vault_app).status_code == 403

    def test_a_subject_sees_exactly_the_accesses_to_its_own_data(self, client, vault_app, runtime):
        a, b = _activity(client, vault_app)
        me = Principal(
            kind="user",
            id="subject-a",
            roles=frozenset({"subject"}),
            scopes=frozenset({f"subject:{a}"}),
        )
        ctx = RequestContext(me)
        with new_session(runtime.engine) as session:
            items, _ = queries.subject_access_log(
                session, ctx, subject_id=uuid.UUID(a), limit=100, cursor=None
            )
            session.commit()
            with pytest.raises(Forbidden):
                queries.subject_access_log(
                    session, ctx, subject_id=uuid.UUID(b), limit=100, cursor=None
                )
        from sqlalchemy import text

        with runtime.engine.connect() as conn:
            expected = (
                conn.execute(
                    text(
                        "SELECT action FROM audit_log WHERE subject_id = :s AND action NOT LIKE "
                        "'audit.%' ORDER BY id"
                    ),
                    {"s": a},
                )
                .scalars()
                .all()
            )
        assert len(items) == len(expected) == 4
        assert [i.action for i in reversed(items)] == list(expected)
