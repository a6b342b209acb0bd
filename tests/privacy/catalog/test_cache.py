"""The per-process catalog cache: a change made through another instance sharing the
database is seen by the next request, with no waiting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from privacy.app import create_app
from privacy.db import make_engine
from privacy.runtime import build_runtime
from support.api import CUSTOMER_FIELDS, new_record, new_subject

READ = "/v1/collections/customers/records/{}?purpose={}&fields={}"


@pytest.fixture
def other(settings, engine) -> Iterator[TestClient]:
    """A second instance of the service: its own engine (so its own cache), same database."""
    eng = make_engine(engine.url.render_as_string(hide_password=False))
    rt = build_runtime(settings, engine=eng)
    with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as c:
        yield c
    eng.dispose()


def _version(runtime) -> int:
    with runtime.engine.connect() as c:
        return c.execute(text("SELECT version FROM catalog_version")).scalar() or 0


class TestAcrossInstances:
    def test_a_narrowed_purpose_is_enforced_at_once_by_the_other_instance(
        self, client, other, admin, vault_app
    ):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        # Both instances have read, so both hold the catalog in memory.
        for c in (client, other):
            r = c.get(READ.format(rid, "marketing", "email"), headers=vault_app)
            assert r.status_code == 200, r.text
            assert r.json()["data"] == {"email": "Alice@example.org"}
        r = client.put(
            "/v1/purposes/marketing",
            headers=admin,
            json={
                "description": "Newsletters",
                "legal_basis": "legitimate_interests",
                "collections": ["customers"],
                "fields": ["name"],
            },
        )
        assert r.status_code == 200, r.text
        r = other.get(READ.format(rid, "marketing", "email"), headers=vault_app)
        assert r.status_code == 403, r.text
        assert r.json()["rule"] == "purpose_fields"

    def test_a_field_added_on_one_instance_is_accepted_by_the_other(
        self, client, other, admin, vault_app
    ):
        sid = new_subject(client, vault_app)
        body = {"subject_id": sid, "data": {"name": "N", "nickname": "Nick"}}
        r = other.post("/v1/collections/customers/records", headers=vault_app, json=body)
        assert r.status_code == 422, r.text
        extra = {"name": "nickname", "type": "string", "category": "identity"}
        r = client.put(
            "/v1/collections/customers", headers=admin, json={"fields": [*CUSTOMER_FIELDS, extra]}
        )
        assert r.status_code == 200, r.text
        r = other.post("/v1/collections/customers/records", headers=vault_app, json=body)
        assert r.status_code == 201, r.text

    def test_a_new_purpose_is_usable_at_once_on_the_other_instance(
        self, client, other, admin, vault_app
    ):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = other.get(READ.format(rid, "billing", "name"), headers=vault_app)
        assert r.status_code == 404, r.text
        r = client.put(
            "/v1/purposes/billing",
            headers=admin,
            json={"description": "Bills", "legal_basis": "contract", "collections": ["customers"]},
        )
        assert r.status_code == 201, r.text
        # Known now, but this app was never granted it: the purpose rule, not "unknown".
        r = other.get(READ.format(rid, "billing", "name"), headers=vault_app)
        assert r.status_code == 403, r.text
        assert r.json()["rule"] == "purpose_not_granted"


class TestVersion:
    def test_every_catalog_change_bumps_the_version_and_a_refused_one_does_not(
        self, client, admin, runtime
    ):
        before = _version(runtime)
        r = client.put("/v1/collections/c2", headers=admin, json={"fields": CUSTOMER_FIELDS[:1]})
        assert r.status_code == 201, r.text
        r = client.put("/v1/collections/c2", headers=admin, json={"fields": CUSTOMER_FIELDS[:2]})
        assert r.status_code == 200, r.text
        purpose = {"description": "d", "legal_basis": "contract", "collections": ["c2"]}
        r = client.put("/v1/purposes/p2", headers=admin, json=purpose)
        assert r.status_code == 201, r.text
        assert _version(runtime) == before + 3
        r = client.put("/v1/purposes/p3", headers=admin, json={**purpose, "collections": ["x"]})
        assert r.status_code == 422, r.text
        assert _version(runtime) == before + 3

    def test_reads_work_without_the_version_row(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        with runtime.engine.begin() as c:
            c.execute(text("DELETE FROM catalog_version"))
        r = client.get(READ.format(rid, "support", "name"), headers=vault_app)
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"name": "Alice Liddell"}
