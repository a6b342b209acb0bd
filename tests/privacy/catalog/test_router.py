"""Collections and purposes through HTTP: the schema records are checked against."""

from __future__ import annotations

from support.api import (
    CUSTOMER_FIELDS,
    FULL_APP_SCOPES,
    app_headers,
    audit_rows,
    new_record,
    new_subject,
    setup_customers,
    user_headers,
)

FIELDS = [{"name": "name", "type": "string", "category": "identity", "required": True}]
PURPOSE = {"description": "Support", "legal_basis": "contract", "collections": ["customers"]}


def put_collection(client, headers, fields, name="customers"):
    return client.put(f"/v1/collections/{name}", headers=headers, json={"fields": fields})


class TestPutCollection:
    def test_first_put_creates_then_put_again_updates(self, client, admin, runtime):
        r = put_collection(client, admin, FIELDS)
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 1
        r = put_collection(client, admin, [*FIELDS, CUSTOMER_FIELDS[1]])
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
        assert [f["name"] for f in r.json()["fields"]] == ["name", "email"]
        actions = [a["action"] for a in audit_rows(runtime, collection="customers")]
        assert actions == ["collection.create", "collection.update"]

    def test_every_field_type_is_accepted(self, client, admin):
        r = put_collection(client, admin, CUSTOMER_FIELDS)
        assert r.status_code == 201, r.text
        types = {f["name"]: f["type"] for f in r.json()["fields"]}
        assert set(types.values()) == {
            "string",
            "email",
            "phone",
            "date",
            "number",
            "boolean",
            "json",
        }

    def test_unknown_type_is_422(self, client, admin):
        r = put_collection(client, admin, [{"name": "x", "type": "blob", "category": "c"}])
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"

    def test_searchable_json_field_is_422(self, client, admin):
        field = {"name": "x", "type": "json", "category": "c", "searchable": True}
        r = put_collection(client, admin, [field])
        assert r.status_code == 422
        assert "searchable" in r.json()["detail"]

    def test_duplicate_field_names_are_422(self, client, admin):
        r = put_collection(client, admin, [FIELDS[0], FIELDS[0]])
        assert r.status_code == 422
        assert "duplicate" in r.json()["detail"]

    def test_bad_collection_name_is_422(self, client, admin):
        r = put_collection(client, admin, FIELDS, name="Bad%20Name")
        assert r.status_code == 422

    def test_no_fields_is_422(self, client, admin):
        assert put_collection(client, admin, []).status_code == 422


class TestCollectionWithRecords:
    def test_fields_may_be_added(self, client, admin, vault_app):
        new_record(client, vault_app, new_subject(client, vault_app))
        extra = {"name": "nickname", "type": "string", "category": "identity"}
        r = put_collection(client, admin, [*CUSTOMER_FIELDS, extra])
        assert r.status_code == 200, r.text

    def test_type_change_is_409(self, client, admin, vault_app):
        new_record(client, vault_app, new_subject(client, vault_app))
        changed = [
            {**f, "type": "string"} if f["name"] == "birthday" else f for f in CUSTOMER_FIELDS
        ]
        r = put_collection(client, admin, changed)
        assert r.status_code == 409
        assert "birthday" in r.json()["detail"]

    def test_searchability_change_is_409(self, client, admin, vault_app):
        new_record(client, vault_app, new_subject(client, vault_app))
        changed = [
            {**f, "searchable": False} if f["name"] == "email" else f for f in CUSTOMER_FIELDS
        ]
        assert put_collection(client, admin, changed).status_code == 409

    def test_field_removal_is_409(self, client, admin, vault_app):
        new_record(client, vault_app, new_subject(client, vault_app))
        r = put_collection(client, admin, CUSTOMER_FIELDS[:-1])
        assert r.status_code == 409
        assert "prefs" in r.json()["detail"]


class TestReadCollections:
    def test_admin_dpo_and_app_can_read(self, client, admin, runtime):
        setup_customers(client, admin)
        dpo = user_headers(client, runtime, "dpo")
        app = app_headers(client, admin, FULL_APP_SCOPES)
        for headers in (admin, dpo, app):
            listed = client.get("/v1/collections", headers=headers)
            assert listed.status_code == 200
            assert [c["name"] for c in listed.json()["items"]] == ["customers"]
            one = client.get("/v1/collections/customers", headers=headers)
            assert one.status_code == 200
            assert len(one.json()["fields"]) == len(CUSTOMER_FIELDS)

    def test_auditor_cannot_read_collections(self, client, runtime):
        auditor = user_headers(client, runtime, "auditor")
        assert client.get("/v1/collections", headers=auditor).status_code == 403

    def test_unknown_collection_is_404(self, client, admin):
        r = client.get("/v1/collections/nothing", headers=admin)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


class TestPurposes:
    def test_dpo_creates_and_updates_a_purpose(self, client, admin, runtime):
        put_collection(client, admin, CUSTOMER_FIELDS)
        dpo = user_headers(client, runtime, "dpo")
        r = client.put("/v1/purposes/support", headers=dpo, json=PURPOSE)
        assert r.status_code == 201, r.text
        assert r.json()["fields"] is None
        r = client.put(
            "/v1/purposes/support", headers=dpo, json={**PURPOSE, "fields": ["name", "email"]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["fields"] == ["name", "email"]

    def test_any_principal_lists_purposes(self, client, admin, runtime):
        setup_customers(client, admin)
        auditor = user_headers(client, runtime, "auditor")
        r = client.get("/v1/purposes", headers=auditor)
        assert r.status_code == 200
        assert [p["id"] for p in r.json()["items"]] == ["marketing", "support"]

    def test_unknown_collection_is_422(self, client, admin):
        r = client.put("/v1/purposes/support", headers=admin, json=PURPOSE)
        assert r.status_code == 422
        assert "customers" in r.json()["detail"]

    def test_field_outside_its_collections_is_422(self, client, admin):
        put_collection(client, admin, CUSTOMER_FIELDS)
        r = client.put(
            "/v1/purposes/support", headers=admin, json={**PURPOSE, "fields": ["name", "iban"]}
        )
        assert r.status_code == 422
        assert "iban" in r.json()["detail"]

    def test_unknown_legal_basis_is_422(self, client, admin):
        put_collection(client, admin, CUSTOMER_FIELDS)
        r = client.put(
            "/v1/purposes/support", headers=admin, json={**PURPOSE, "legal_basis": "because"}
        )
        assert r.status_code == 422

    def test_app_cannot_define_purposes(self, client, admin):
        put_collection(client, admin, CUSTOMER_FIELDS)
        app = app_headers(client, admin, FULL_APP_SCOPES)
        assert client.put("/v1/purposes/support", headers=app, json=PURPOSE).status_code == 403
