"""Records and subjects end to end through HTTP: CRUD, paging, search, batches, purposes,
validation. Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from privacy.app import create_app
from privacy.runtime import build_runtime
from privacy.schemas import encode_cursor
from support.api import (
    FULL_APP_SCOPES,
    SAMPLE_CUSTOMER,
    app_headers,
    audit_rows,
    count_rows,
    new_record,
    new_subject,
    setup_customers,
    user_headers,
)

RECORDS = "/v1/collections/customers/records"


def read(client, headers, rid, purpose="support", **params):
    params = {"purpose": purpose, **params} if purpose else params
    return client.get(f"{RECORDS}/{rid}", headers=headers, params=params)


def search(client, headers, criteria, purpose="support"):
    return client.post(
        "/v1/collections/customers/search",
        headers=headers,
        params={"purpose": purpose},
        json=criteria,
    )


def add_orders(client, admin) -> None:
    """A second collection, and a purpose that covers only it."""
    fields = [
        {"name": "item", "type": "string", "category": "commerce", "required": True},
        {"name": "total", "type": "number", "category": "financial"},
    ]
    r = client.put("/v1/collections/orders", headers=admin, json={"fields": fields})
    assert r.status_code == 201, r.text
    r = client.put(
        "/v1/purposes/billing",
        headers=admin,
        json={"description": "Invoicing", "legal_basis": "contract", "collections": ["orders"]},
    )
    assert r.status_code == 201, r.text


class TestCreateAndRead:
    def test_every_field_type_round_trips(self, client, vault_app):
        sid = new_subject(client, vault_app)
        r = client.post(
            RECORDS, headers=vault_app, json={"subject_id": sid, "data": SAMPLE_CUSTOMER}
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert set(created) >= {"id", "subject_id", "collection", "created_at"}
        assert created["subject_id"] == sid and created["collection"] == "customers"
        got = read(client, vault_app, created["id"])
        assert got.status_code == 200, got.text
        # E-mail addresses are stored normalised (lower-case domain).
        assert got.json()["data"] == {**SAMPLE_CUSTOMER, "email": "Alice@example.org"}
        assert got.json()["id"] == created["id"]

    def test_read_is_audited_with_purpose_and_field_names(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = read(client, vault_app, rid, "marketing")
        assert r.status_code == 200
        reads = audit_rows(runtime, action="record.read", outcome="ok")
        assert len(reads) == 1
        assert reads[0]["purpose"] == "marketing"
        assert reads[0]["fields"] == ["email", "name"]
        assert (reads[0]["record_id"], reads[0]["subject_id"]) == (rid, sid)

    def test_fields_param_returns_only_that_subset(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = read(client, vault_app, rid, fields="phone,vip")
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"phone": SAMPLE_CUSTOMER["phone"], "vip": True}

    def test_unknown_field_in_fields_param_is_not_found(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = read(client, vault_app, rid, fields="name,shoe_size")
        assert r.status_code == 404
        assert "shoe_size" in r.json()["detail"]

    def test_x_purpose_header_works_like_purpose_query(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = client.get(f"{RECORDS}/{rid}", headers={**vault_app, "X-Purpose": "marketing"})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == read(client, vault_app, rid, "marketing").json()["data"]
        assert set(r.json()["data"]) == {"name", "email"}

    def test_record_of_other_collection_id_is_not_found(self, client, vault_app):
        r = read(client, vault_app, uuid.uuid4())
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"

    def test_record_for_unknown_subject_is_not_found(self, client, vault_app, runtime):
        r = client.post(
            RECORDS,
            headers=vault_app,
            json={"subject_id": str(uuid.uuid4()), "data": {"name": "X"}},
        )
        assert r.status_code == 404
        assert count_rows(runtime, "records") == 0


class TestListBySubject:
    def test_cursor_walks_every_record_once(self, client, vault_app):
        sid = new_subject(client, vault_app)
        other = new_subject(client, vault_app)
        new_record(client, vault_app, other, {"name": "Someone else"})
        made = {new_record(client, vault_app, sid, {"name": f"Person {i}"}) for i in range(5)}
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"subject_id": sid, "purpose": "support", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = client.get(RECORDS, headers=vault_app, params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["items"]) <= 2
            seen += [item["id"] for item in body["items"]]
            assert all(item["subject_id"] == sid for item in body["items"])
            pages += 1
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert pages == 3
        assert len(seen) == len(set(seen)) == 5
        assert set(seen) == made

    def test_forged_cursor_is_bad_request(self, client, vault_app):
        sid = new_subject(client, vault_app)
        r = client.get(
            RECORDS,
            headers=vault_app,
            params={"subject_id": sid, "purpose": "support", "cursor": "!!not-ours"},
        )
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"

    def test_cursor_not_naming_a_record_is_bad_request(self, client, vault_app):
        sid = new_subject(client, vault_app)
        for key in ("abc", 42, ["x"], {"id": 1}):
            r = client.get(
                RECORDS,
                headers=vault_app,
                params={"subject_id": sid, "purpose": "support", "cursor": encode_cursor(key)},
            )
            assert r.status_code == 400, (key, r.text)
            assert r.headers["content-type"] == "application/problem+json"

    def test_list_without_purpose_is_refused(self, client, vault_app):
        sid = new_subject(client, vault_app)
        r = client.get(RECORDS, headers=vault_app, params={"subject_id": sid})
        assert r.status_code == 400


class TestSearch:
    @pytest.fixture
    def people(self, client, vault_app):
        sid = new_subject(client, vault_app)
        alice = new_record(client, vault_app, sid)
        bob = new_record(
            client,
            vault_app,
            sid,
            {"name": "Bob", "email": "bob@example.org", "phone": SAMPLE_CUSTOMER["phone"]},
        )
        return alice, bob

    def test_email_search_ignores_case(self, client, vault_app, people):
        alice, _ = people
        r = search(client, vault_app, {"email": "ALICE@example.ORG"})
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == [alice]

    def test_phone_search_finds_every_match(self, client, vault_app, people):
        r = search(client, vault_app, {"phone": SAMPLE_CUSTOMER["phone"]})
        assert r.status_code == 200, r.text
        assert {i["id"] for i in r.json()["items"]} == set(people)

    def test_phone_search_normalises_the_query(self, client, vault_app, people):
        r = search(client, vault_app, {"phone": "+49 151 1234 5678"})
        assert r.status_code == 200, r.text
        assert {i["id"] for i in r.json()["items"]} == set(people)

    def test_criteria_outside_the_purpose_are_forbidden(self, client, vault_app, people, runtime):
        # marketing covers name and email only: selecting people by phone number would
        # process the phone number for a purpose that does not allow it.
        r = search(client, vault_app, {"phone": SAMPLE_CUSTOMER["phone"]}, purpose="marketing")
        assert r.status_code == 403, r.text
        assert "phone" in r.json()["detail"]
        denied = audit_rows(runtime, action="record.search", outcome="denied")
        assert [d["reason"] for d in denied] == ["purpose_fields"]

    def test_two_criteria_must_both_match(self, client, vault_app, people):
        _, bob = people
        r = search(
            client, vault_app, {"phone": SAMPLE_CUSTOMER["phone"], "email": "bob@example.org"}
        )
        assert [i["id"] for i in r.json()["items"]] == [bob]
        r = search(client, vault_app, {"phone": "+4915199999999", "email": "bob@example.org"})
        assert r.status_code == 200 and r.json()["items"] == []

    def test_non_searchable_field_is_refused(self, client, vault_app, people):
        r = search(client, vault_app, {"name": "Bob"})
        assert r.status_code == 422
        assert "name" in r.json()["detail"]

    def test_search_results_follow_the_purpose(self, client, vault_app, people):
        r = search(client, vault_app, {"email": "bob@example.org"}, purpose="marketing")
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["data"] == {"name": "Bob", "email": "bob@example.org"}

    def test_search_without_purpose_is_refused(self, client, vault_app, people):
        r = client.post(
            "/v1/collections/customers/search", headers=vault_app, json={"email": "a@b.org"}
        )
        assert r.status_code == 400


class TestUpdate:
    def patch(self, client, headers, rid, data):
        return client.patch(f"{RECORDS}/{rid}", headers=headers, json={"data": data})

    def test_patch_changes_a_value_and_keeps_the_rest(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = self.patch(client, vault_app, rid, {"score": 7})
        assert r.status_code == 200, r.text
        data = read(client, vault_app, rid).json()["data"]
        assert data["score"] == 7
        assert data["name"] == SAMPLE_CUSTOMER["name"]

    def test_null_removes_an_optional_field(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = self.patch(client, vault_app, rid, {"birthday": None, "phone": None})
        assert r.status_code == 200, r.text
        data = read(client, vault_app, rid).json()["data"]
        assert "birthday" not in data and "phone" not in data
        assert search(client, vault_app, {"phone": SAMPLE_CUSTOMER["phone"]}).json()["items"] == []

    def test_required_field_cannot_be_removed(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = self.patch(client, vault_app, rid, {"name": None})
        assert r.status_code == 422
        assert "data.name" in r.json()["detail"]
        assert read(client, vault_app, rid).json()["data"]["name"] == SAMPLE_CUSTOMER["name"]

    def test_search_finds_the_new_value_not_the_old(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = self.patch(client, vault_app, rid, {"email": "alice.new@example.org"})
        assert r.status_code == 200, r.text
        assert search(client, vault_app, {"email": "alice@example.org"}).json()["items"] == []
        found = search(client, vault_app, {"email": "alice.new@example.org"}).json()["items"]
        assert [i["id"] for i in found] == [rid]

    def test_invalid_patch_changes_nothing(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = self.patch(client, vault_app, rid, {"score": 1, "phone": "12345"})
        assert r.status_code == 422
        assert read(client, vault_app, rid).json()["data"]["score"] == SAMPLE_CUSTOMER["score"]


class TestDelete:
    def test_deleted_record_is_gone(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = client.delete(f"{RECORDS}/{rid}", headers=vault_app)
        assert r.status_code == 204
        assert r.content == b""
        assert read(client, vault_app, rid).status_code == 404
        assert search(client, vault_app, {"email": "alice@example.org"}).json()["items"] == []
        assert client.delete(f"{RECORDS}/{rid}", headers=vault_app).status_code == 404


class TestBatch:
    BATCH = f"{RECORDS}:batch"

    def test_batch_of_three_is_created(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        items = [{"subject_id": sid, "data": {"name": f"N{i}"}} for i in range(3)]
        r = client.post(self.BATCH, headers=vault_app, json={"records": items})
        assert r.status_code == 201, r.text
        ids = [i["id"] for i in r.json()["items"]]
        assert len(set(ids)) == 3
        assert count_rows(runtime, "records") == 3
        assert [read(client, vault_app, i).json()["data"]["name"] for i in ids] == [
            "N0",
            "N1",
            "N2",
        ]

    def test_one_invalid_record_rejects_the_whole_batch(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        items = [
            {"subject_id": sid, "data": {"name": "ok"}},
            {"subject_id": sid, "data": {"name": "bad", "birthday": "2023-02-30"}},
            {"subject_id": sid, "data": {"name": "ok too"}},
        ]
        r = client.post(self.BATCH, headers=vault_app, json={"records": items})
        assert r.status_code == 422
        assert "records[1].data.birthday" in r.json()["detail"]
        assert count_rows(runtime, "records") == 0
        assert count_rows(runtime, "blind_index") == 0

    def test_unknown_subject_in_batch_writes_nothing(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        items = [
            {"subject_id": sid, "data": {"name": "ok"}},
            {"subject_id": str(uuid.uuid4()), "data": {"name": "orphan"}},
        ]
        r = client.post(self.BATCH, headers=vault_app, json={"records": items})
        assert r.status_code == 404
        assert count_rows(runtime, "records") == 0

    def test_more_than_1000_records_are_refused(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        items = [{"subject_id": sid, "data": {"name": "n"}}] * 1001
        r = client.post(self.BATCH, headers=vault_app, json={"records": items})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert "records" in r.json()["detail"]
        assert count_rows(runtime, "records") == 0


class TestSubjects:
    def test_duplicate_external_id_conflicts(self, client, vault_app, runtime):
        new_subject(client, vault_app, external_id="crm-42")
        r = client.post("/v1/subjects", headers=vault_app, json={"external_id": "crm-42"})
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        assert count_rows(runtime, "subjects") == 1

    def test_lookup_by_email_finds_the_subject(self, client, vault_app):
        sid = new_subject(client, vault_app, email="Dora@Example.org")
        new_subject(client, vault_app, email="other@example.org")
        r = client.get("/v1/subjects", headers=vault_app, params={"email": "dora@example.org"})
        assert r.status_code == 200, r.text
        assert [s["id"] for s in r.json()] == [sid]

    def test_lookup_by_external_id_finds_the_subject(self, client, vault_app):
        sid = new_subject(client, vault_app, external_id="crm-7")
        new_subject(client, vault_app, external_id="crm-8")
        r = client.get("/v1/subjects", headers=vault_app, params={"external_id": "crm-7"})
        assert r.status_code == 200, r.text
        assert [s["id"] for s in r.json()] == [sid]
        assert (
            client.get("/v1/subjects", headers=vault_app, params={"external_id": "crm-9"}).json()
            == []
        )

    def test_lookup_needs_exactly_one_key(self, client, vault_app):
        r = client.get("/v1/subjects", headers=vault_app)
        assert r.status_code == 400

    def test_metadata_has_counts_and_no_personal_data(self, client, vault_app):
        sid = new_subject(client, vault_app, external_id="crm-secret-1", email="eve@example.org")
        new_record(client, vault_app, sid)
        new_record(client, vault_app, sid, {"name": "Second"})
        r = client.get(f"/v1/subjects/{sid}", headers=vault_app)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == sid
        assert body["records"] == {"customers": 2}
        assert body["has_email"] is True
        for value in ("crm-secret-1", "eve@example.org", "Alice", "4915112345678"):
            assert value not in r.text

    def test_app_without_subject_scopes_is_forbidden(self, client, admin, vault_app, runtime):
        sid = new_subject(client, vault_app)
        app = app_headers(client, admin, ["records:read:customers", "purpose:support"])
        assert (
            client.post("/v1/subjects", headers=app, json={"external_id": "e"}).status_code == 403
        )
        assert client.get(f"/v1/subjects/{sid}", headers=app).status_code == 403
        lookup = client.get("/v1/subjects", headers=app, params={"external_id": "e"})
        assert lookup.status_code == 403
        assert count_rows(runtime, "subjects") == 1

    def test_unknown_subject_is_not_found(self, client, vault_app):
        assert client.get(f"/v1/subjects/{uuid.uuid4()}", headers=vault_app).status_code == 404


class TestPurposeRules:
    def test_read_without_purpose_is_refused_and_audited(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = read(client, vault_app, rid, purpose=None)
        assert r.status_code == 400
        assert r.json()["type"].endswith("purpose-required")
        denied = audit_rows(runtime, action="record.read", outcome="denied")
        assert [d["reason"] for d in denied] == ["purpose_missing"]
        assert denied[0]["collection"] == "customers"
        # Attributable: the refusal shows in that subject's access log.
        assert (denied[0]["record_id"], denied[0]["subject_id"]) == (rid, sid)
        assert denied[0]["request_id"] == r.headers["x-request-id"]

    def test_unknown_purpose_is_not_found(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = read(client, vault_app, rid, purpose="astrology")
        assert r.status_code == 404
        assert audit_rows(runtime, outcome="denied", purpose="astrology")

    def test_purpose_not_granted_to_the_app_is_forbidden_and_audited(
        self, client, admin, vault_app, runtime
    ):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        support_only = app_headers(client, admin, ["records:read:customers", "purpose:support"])
        assert read(client, support_only, rid).status_code == 200
        r = read(client, support_only, rid, purpose="marketing")
        assert r.status_code == 403
        denied = audit_rows(runtime, outcome="denied", purpose="marketing")
        assert [d["reason"] for d in denied] == ["purpose_not_granted"]
        assert denied[0]["actor_type"] == "app"

    def test_purpose_not_covering_the_collection_is_forbidden(
        self, client, admin, vault_app, runtime
    ):
        add_orders(client, admin)
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        app = app_headers(client, admin, ["records:read:customers", "purpose:billing"])
        r = read(client, app, rid, purpose="billing")
        assert r.status_code == 403
        assert "customers" in r.json()["detail"]
        assert audit_rows(runtime, outcome="denied", reason="purpose_collection")

    def test_field_outside_the_purpose_is_forbidden_by_name(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = read(client, vault_app, rid, purpose="marketing", fields="name,phone")
        assert r.status_code == 403
        assert "phone" in r.json()["detail"]
        assert audit_rows(runtime, outcome="denied", reason="purpose_fields")

    def test_no_fields_asked_returns_only_what_the_purpose_covers(self, client, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        r = read(client, vault_app, rid, purpose="marketing")
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"name": "Alice Liddell", "email": "Alice@example.org"}

    def test_app_without_read_scope_is_forbidden(self, client, admin, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        writer = app_headers(client, admin, ["records:write:customers", "purpose:*"])
        r = read(client, writer, rid)
        assert r.status_code == 403
        assert audit_rows(runtime, outcome="denied", reason="scope")

    def test_app_cannot_read_a_collection_it_is_not_scoped_for(self, client, admin, vault_app):
        add_orders(client, admin)
        orders_app = app_headers(
            client, admin, ["subjects:write", "records:*:orders", "purpose:billing"]
        )
        sid = new_subject(client, orders_app)
        order = new_record(client, orders_app, sid, {"item": "Book", "total": 9.5}, "orders")
        assert (
            client.get(
                f"/v1/collections/orders/records/{order}?purpose=billing", headers=orders_app
            ).status_code
            == 200
        )
        # vault_app holds every customers scope, but nothing on orders.
        r = client.get(f"/v1/collections/orders/records/{order}?purpose=billing", headers=vault_app)
        assert r.status_code == 403
        r = client.get(f"/v1/collections/orders/records/{order}?purpose=support", headers=vault_app)
        assert r.status_code == 403

    def test_app_without_write_scope_cannot_create(self, client, admin, vault_app, runtime):
        sid = new_subject(client, vault_app)
        reader = app_headers(client, admin, ["records:read:customers", "purpose:support"])
        r = client.post(RECORDS, headers=reader, json={"subject_id": sid, "data": {"name": "X"}})
        assert r.status_code == 403
        assert count_rows(runtime, "records") == 0

    def test_staff_user_cannot_read_records(self, client, runtime, vault_app):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        dpo = user_headers(client, runtime, "dpo")
        assert read(client, dpo, rid).status_code == 403


class TestValidation:
    def post(self, client, headers, data):
        sid = new_subject(client, headers)
        return client.post(RECORDS, headers=headers, json={"subject_id": sid, "data": data})

    def test_wrong_type_names_the_field_not_the_value(self, client, vault_app, runtime):
        r = self.post(client, vault_app, {"name": "Ann", "score": "secret-score-value"})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert "data.score" in r.json()["detail"]
        assert "secret-score-value" not in r.text
        assert count_rows(runtime, "records") == 0

    INVALID = [
        ("email", "not-an-address@"),
        ("phone", "015112345678"),
        ("phone", "+99 nonsense"),
        ("birthday", "2023-02-30"),
        ("birthday", "04.05.1990"),
        ("vip", "yes"),
        ("name", 12),
    ]

    def test_invalid_values_are_refused_by_field(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        for field, value in self.INVALID:
            data = {"name": "Ann", field: value}
            r = client.post(RECORDS, headers=vault_app, json={"subject_id": sid, "data": data})
            assert r.status_code == 422, (field, value, r.text)
            assert f"data.{field}" in r.json()["detail"]
            assert str(value) not in r.json()["detail"]
        assert count_rows(runtime, "records") == 0

    def test_unknown_field_is_refused(self, client, vault_app):
        r = self.post(client, vault_app, {"name": "Ann", "shoe_size": 44})
        assert r.status_code == 422
        assert "data.shoe_size" in r.json()["detail"]

    def test_missing_required_field_is_refused(self, client, vault_app):
        r = self.post(client, vault_app, {"email": "ann@example.org"})
        assert r.status_code == 422
        assert "data.name" in r.json()["detail"]

    def test_value_over_the_size_limit_is_refused(self, client, vault_app, runtime):
        big = "x" * (runtime.settings.max_value_bytes + 1)
        r = self.post(client, vault_app, {"name": big})
        assert r.status_code == 422
        assert "data.name" in r.json()["detail"]
        assert big not in r.text


class TestBodyCap:
    def test_batch_over_the_body_limit_is_413_problem(self, dev_vault, tmp_path: Path, engine):
        from support.settings import make_settings

        settings = make_settings(dev_vault, tmp_path, max_body_bytes=2048)
        rt = build_runtime(settings, engine=engine)
        with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as client:
            admin = user_headers(client, rt, "admin")
            setup_customers(client, admin)
            app = app_headers(client, admin, FULL_APP_SCOPES)
            sid = new_subject(client, app)
            items = [{"subject_id": sid, "data": {"name": f"Person {i}"}} for i in range(60)]
            r = client.post(f"{RECORDS}:batch", headers=app, json={"records": items})
            assert r.status_code == 413
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["status"] == 413 and body["type"].endswith("payload-too-large")
            assert "2048" in body["detail"]
            assert count_rows(rt, "records") == 0
            # A small batch still goes through.
            ok = client.post(f"{RECORDS}:batch", headers=app, json={"records": items[:2]})
            assert ok.status_code == 201, ok.text
