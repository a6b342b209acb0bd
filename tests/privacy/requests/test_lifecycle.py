"""The request lifecycle (Art. 12) through HTTP: filing, states, deadlines, visibility.
Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import text

from privacy.requests.deadlines import due_after
from support.api import app_headers, audit_rows, new_subject, user_headers
from support.requests import REQUESTS, file


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class TestDeadlines:
    def test_one_calendar_month_clamps_to_the_end_of_a_shorter_month(self):
        def d(*a):
            return datetime(*a, tzinfo=UTC)

        assert due_after(d(2025, 1, 31, 9)) == d(2025, 2, 28, 9)
        assert due_after(d(2024, 1, 31, 9)) == d(2024, 2, 29, 9)
        assert due_after(d(2025, 3, 15)) == d(2025, 4, 15)
        assert due_after(d(2025, 12, 31)) == d(2026, 1, 31)
        assert due_after(d(2025, 2, 28), 2) == d(2025, 4, 28)


class TestFiling:
    def test_subject_files_for_itself_and_it_runs_at_once(self, client, me, subject, runtime):
        sid = subject[0]
        r = file(client, me, sid, "access")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "completed" and body["identity_method"] == "subject_sign_in"
        assert _at(body["due_at"]) == _at(body["received_at"]) + relativedelta(months=1)
        assert body["overdue"] is False and body["filed_by"].startswith("subject:")
        rows = audit_rows(runtime, reason=f"request:{body['id']};type:access")
        assert [r["action"] for r in rows] == [
            "request.received",
            "request.identity_verified",
            "request.in_progress",
            "request.completed",
        ]
        assert {r["actor"] for r in rows} == {body["filed_by"]}

    def test_app_files_dpo_verifies_and_processes(self, client, app, dpo, subject, runtime):
        sid = subject[0]
        r = file(client, app, sid, "restriction", ground="accuracy_contested")
        assert r.status_code == 201, r.text
        req = r.json()
        assert req["status"] == "received" and req["identity_verified_at"] is None
        url = f"{REQUESTS}/{req['id']}"
        # Not before the requester's identity is verified.
        assert client.post(url + "/process", headers=dpo).status_code == 409
        r = client.post(url + "/verify-identity", headers=dpo, json={"method": "app_account"})
        assert r.status_code == 200 and r.json()["status"] == "identity_verified"
        r = client.post(url + "/process", headers=dpo)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed"
        assert r.json()["result"] == {
            "restricted": True,
            "ground": "accuracy_contested",
            "apps_notified": 0,  # no app here has a webhook_url
        }
        state = client.get(f"/v1/subjects/{sid}/restriction", headers=app).json()
        assert state["restricted"] is True
        actions = [
            (e["action"], e["actor"].split(":")[0])
            for e in audit_rows(runtime, reason=f"request:{req['id']};type:restriction")
        ]
        assert actions == [
            ("request.received", "app"),
            ("request.identity_verified", "user"),
            ("request.in_progress", "user"),
            ("request.completed", "user"),
        ]

    def test_a_second_open_request_of_the_same_type_returns_the_open_one(
        self, client, app, subject
    ):
        sid = subject[0]
        first = file(client, app, sid, "portability")
        assert first.status_code == 201
        again = file(client, app, sid, "portability")
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        other = file(client, app, sid, "access")
        assert other.status_code == 201 and other.json()["id"] != first.json()["id"]

    def test_the_subjects_own_filing_verifies_an_open_request_an_app_filed(
        self, client, app, me, subject
    ):
        sid = subject[0]
        waiting = file(client, app, sid, "objection", purpose="marketing").json()
        assert waiting["status"] == "received"
        r = file(client, me, sid, "objection", purpose="marketing")
        assert r.status_code == 200 and r.json()["id"] == waiting["id"]
        assert r.json()["status"] == "completed"
        assert r.json()["identity_method"] == "subject_sign_in"

    def test_a_subject_may_file_only_for_itself(self, client, me, app, runtime):
        other = new_subject(client, app)
        r = file(client, me, other)
        assert r.status_code == 403
        assert audit_rows(runtime, action="request.file", outcome="denied")

    def test_an_app_needs_subjects_write(self, client, admin, subject):
        reader = app_headers(client, admin, ["subjects:read"])
        assert file(client, reader, subject[0]).status_code == 403

    def test_staff_other_than_the_dpo_cannot_use_requests(self, client, admin, subject):
        assert file(client, admin, subject[0]).status_code == 403
        assert client.get(REQUESTS, headers=admin).status_code == 403

    def test_unknown_subject_and_bad_bodies_are_refused(self, client, app, subject):
        assert file(client, app, "00000000-0000-4000-8000-000000000000").status_code == 404
        sid = subject[0]
        for bad in (
            {"type": "deletion"},
            {"type": "objection"},  # no purpose
            {"type": "restriction"},  # no ground
            {"type": "access", "lift": True},
            {"type": "access", "changes": {"customers": {}}},
            {"type": "access", "colour": "blue"},
        ):
            r = client.post(REQUESTS, headers=app, json={"subject_id": sid, **bad})
            assert r.status_code == 422, bad
            assert r.headers["content-type"].startswith("application/problem+json")

    def test_erasure_answers_501_when_its_executor_is_not_installed(
        self, client, app, subject, monkeypatch
    ):
        from privacy.requests import executors

        # A deployment without the erasure module (not a mock of Vault or the database).
        monkeypatch.setattr(executors, "ERASURE_MODULE", "privacy.no_such_erasure.service")
        r = file(client, app, subject[0], "erasure")
        assert r.status_code == 501
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "erasure executor not installed" in r.json()["detail"]
        assert client.get(REQUESTS, headers=app).json()["items"] == []


class TestDeadlineChanges:
    def test_extend_once_by_up_to_two_months_with_a_reason(
        self, client, app, dpo, subject, runtime
    ):
        req = file(client, app, subject[0]).json()
        url = f"{REQUESTS}/{req['id']}/extend"
        assert client.post(url, headers=app, json={"reason": "x"}).status_code == 403
        assert client.post(url, headers=dpo, json={"reason": "x", "months": 3}).status_code == 422
        assert client.post(url, headers=dpo, json={"months": 1}).status_code == 422
        r = client.post(url, headers=dpo, json={"reason": "many records in archives"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert _at(body["extended_until"]) == _at(body["due_at"]) + relativedelta(months=2)
        assert body["extension_reason"] == "many records in archives"
        assert client.post(url, headers=dpo, json={"reason": "again"}).status_code == 409
        assert audit_rows(runtime, action="request.extended")

    def test_reject_with_a_reason_closes_the_request(self, client, app, dpo, subject):
        req = file(client, app, subject[0]).json()
        url = f"{REQUESTS}/{req['id']}"
        assert client.post(url + "/reject", headers=dpo, json={}).status_code == 422
        r = client.post(url + "/reject", headers=dpo, json={"reason": "manifestly unfounded"})
        assert r.status_code == 200
        assert r.json()["status"] == "rejected" and r.json()["reason"] == "manifestly unfounded"
        assert r.json()["completed_at"] is not None
        assert client.post(url + "/reject", headers=dpo, json={"reason": "x"}).status_code == 409
        assert client.post(url + "/process", headers=dpo).status_code == 409
        # A closed request no longer blocks a new one of that type.
        assert file(client, app, subject[0]).status_code == 201

    def test_overdue_requests_show_in_the_filter_and_in_metrics(
        self, client, app, dpo, subject, runtime
    ):
        late = file(client, app, subject[0], "access").json()
        on_time = file(client, app, subject[0], "portability").json()
        yesterday = datetime.now(UTC) - timedelta(days=1)
        rid = late["id"].replace("-", "") if runtime.settings.is_sqlite else late["id"]
        with runtime.engine.begin() as conn:
            conn.execute(
                text("UPDATE dsr_requests SET due_at = :t WHERE id = :id"),
                {"t": yesterday, "id": rid},
            )
        r = client.get(REQUESTS, headers=dpo, params={"overdue": "true"})
        assert [i["id"] for i in r.json()["items"]] == [late["id"]]
        assert r.json()["items"][0]["overdue"] is True
        r = client.get(REQUESTS, headers=dpo, params={"overdue": "false"})
        assert [i["id"] for i in r.json()["items"]] == [on_time["id"]]
        assert "privacy_dsr_overdue 1.0" in client.get("/metrics").text
        # An extension (two months from the original deadline): no longer overdue.
        client.post(f"{REQUESTS}/{late['id']}/extend", headers=dpo, json={"reason": "r"})
        assert client.get(REQUESTS, headers=dpo, params={"overdue": "true"}).json()["items"] == []
        assert "privacy_dsr_overdue 0.0" in client.get("/metrics").text


class TestReading:
    def test_who_sees_which_requests(self, client, admin, app, dpo, me, subject):
        sid = subject[0]
        by_app = file(client, app, sid, "portability").json()
        by_subject = file(client, me, sid, "access").json()
        other_app = app_headers(client, admin, ["subjects:write"])
        stranger = new_subject(client, app)
        by_other = file(client, other_app, stranger, "access").json()

        def ids(headers, **params):
            r = client.get(REQUESTS, headers=headers, params=params)
            assert r.status_code == 200, r.text
            return {i["id"] for i in r.json()["items"]}

        assert ids(dpo) == {by_app["id"], by_subject["id"], by_other["id"]}
        assert ids(app) == {by_app["id"]}
        assert ids(other_app) == {by_other["id"]}
        assert ids(me) == {by_app["id"], by_subject["id"]}
        assert ids(dpo, type="access", status="completed") == {by_subject["id"]}
        assert ids(dpo, subject_id=stranger) == {by_other["id"]}
        assert client.get(f"{REQUESTS}/{by_other['id']}", headers=me).status_code == 404
        assert client.get(f"{REQUESTS}/{by_other['id']}", headers=app).status_code == 404
        assert client.get(f"{REQUESTS}/{by_other['id']}", headers=dpo).status_code == 200
        # Only erasure requests have a receipt.
        r = client.get(f"{REQUESTS}/{by_subject['id']}/receipt", headers=me)
        assert r.status_code == 404 and "erasure" in r.json()["detail"]

    def test_cursor_paging(self, client, app, dpo, subject, runtime):
        sid = subject[0]
        for t in ("access", "portability", "objection"):
            extra = {"purpose": "marketing"} if t == "objection" else {}
            assert file(client, app, sid, t, **extra).status_code == 201
        r = client.get(REQUESTS, headers=dpo, params={"limit": 2})
        first = r.json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        r = client.get(REQUESTS, headers=dpo, params={"limit": 2, "cursor": first["next_cursor"]})
        second = r.json()
        assert len(second["items"]) == 1 and second["next_cursor"] is None
        seen = [i["id"] for i in first["items"] + second["items"]]
        assert len(set(seen)) == 3
        assert client.get(REQUESTS, headers=dpo, params={"cursor": "bm9wZQ"}).status_code == 400
        assert user_headers  # (imported for other tests)
