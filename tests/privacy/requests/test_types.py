"""Rectification (Art. 16), restriction (Art. 18) and objection (Art. 21) requests, filed
by the subject, an app or the DPO, through HTTP. Real OpenBao, SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from support.api import audit_rows, dump_tables, new_record, new_subject
from support.requests import REQUESTS, file, read, run_as_dpo

NEW_NAME = "Alice Pleasance Liddell"


class TestRectification:
    def test_subject_rectifies_its_record_and_only_field_names_are_audited(
        self, client, app, me, subject, runtime
    ):
        sid, rid, _ = subject
        changes = {"customers": {rid: {"name": NEW_NAME, "phone": None, "score": 7}}}
        r = file(client, me, sid, "rectification", changes=changes)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "completed"
        assert body["result"] == {
            "rectified": {"customers": {rid: ["name", "phone", "score"]}},
            "apps_notified": 0,
        }
        data = read(client, app, rid).json()["data"]
        assert data["name"] == NEW_NAME and data["score"] == 7 and "phone" not in data
        (update,) = audit_rows(runtime, action="record.update", record_id=rid)
        assert update["fields"] == ["name", "phone", "score"]
        assert update["actor"] == body["filed_by"]
        dump = dump_tables(runtime, "audit_log", "dsr_requests")
        assert NEW_NAME not in dump

    def test_app_filed_changes_wait_sealed_until_the_dpo_processes_them(
        self, client, app, dpo, subject, runtime
    ):
        sid, rid, _ = subject
        r = file(
            client, app, sid, "rectification", changes={"customers": {rid: {"name": NEW_NAME}}}
        )
        assert r.status_code == 201 and r.json()["status"] == "received"
        assert r.json()["params"] == {"fields": {"customers": {rid: ["name"]}}}
        assert NEW_NAME not in dump_tables(runtime, "dsr_requests")
        assert read(client, app, rid).json()["data"]["name"] != NEW_NAME
        done = run_as_dpo(client, dpo, r.json()["id"])
        assert done["status"] == "completed"
        assert read(client, app, rid).json()["data"]["name"] == NEW_NAME
        # Applied: the sealed values are not kept.
        with runtime.engine.connect() as conn:
            left = conn.execute(text("SELECT sealed_changes FROM dsr_requests")).scalar_one()
        assert left is None

    def test_changes_are_validated_like_patch_and_nothing_is_filed_when_invalid(
        self, client, app, me, subject
    ):
        sid, rid, _ = subject
        for changes, status in (
            ({"customers": {rid: {"phone": "not a phone"}}}, 422),
            ({"customers": {rid: {"shoe_size": 44}}}, 422),
            ({"customers": {rid: {"name": None}}}, 422),  # required field
            ({"nope": {rid: {"name": "x"}}}, 404),
            ({"customers": {rid: {}}}, 422),
        ):
            r = file(client, me, sid, "rectification", changes=changes)
            assert r.status_code == status, (changes, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert client.get(REQUESTS, headers=me).json()["items"] == []

    def test_records_of_another_subject_cannot_be_rectified(self, client, app, me, subject):
        other = new_subject(client, app)
        theirs = new_record(client, app, other)
        r = file(
            client, me, subject[0], "rectification", changes={"customers": {theirs: {"name": "x"}}}
        )
        assert r.status_code == 404
        assert read(client, app, theirs).json()["data"]["name"] != "x"


class TestRestriction:
    def test_subject_restricts_and_later_lifts(self, client, app, me, subject, runtime):
        sid, rid, _ = subject
        r = file(client, me, sid, "restriction", ground="accuracy_contested")
        assert r.status_code == 201 and r.json()["result"]["restricted"] is True
        assert read(client, app, rid).status_code == 403
        assert read(client, app, rid, "legal_claims").status_code == 200
        r = file(client, me, sid, "restriction", lift=True)
        assert r.status_code == 201, r.text
        assert r.json()["result"]["restricted"] is False
        assert read(client, app, rid).status_code == 200
        actions = [e["action"] for e in audit_rows(runtime, subject_id=sid)]
        assert "restriction.set" in actions and "restriction.lift" in actions


class TestObjection:
    def test_objection_stops_reads_for_that_purpose_until_lifted(
        self, client, app, dpo, me, subject
    ):
        sid, rid, _ = subject
        assert read(client, app, rid, "marketing").status_code == 200
        r = file(client, me, sid, "objection", purpose="marketing")
        assert r.status_code == 201, r.text
        assert r.json()["result"] == {"purpose": "marketing", "objected": True, "apps_notified": 0}
        assert read(client, app, rid, "marketing").status_code == 403
        assert read(client, app, rid, "support").status_code == 200
        # Lifting is a request too, here filed by the app and run by the DPO.
        r = file(client, app, sid, "objection", purpose="marketing", lift=True)
        assert r.status_code == 201
        assert run_as_dpo(client, dpo, r.json()["id"])["result"]["objected"] is False
        assert read(client, app, rid, "marketing").status_code == 200

    def test_objection_applies_only_to_objectable_purposes(self, client, me, subject):
        sid = subject[0]
        assert file(client, me, sid, "objection", purpose="newsletter").status_code == 422
        assert file(client, me, sid, "objection", purpose="nope").status_code == 404
