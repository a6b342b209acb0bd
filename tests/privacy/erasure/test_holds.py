"""Legal holds (the `[[hold]]` entries of the retention file) keep records through an
erasure, readable only for legal claims, until the hold ends; then the rest goes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from privacy.db import new_session, utcnow
from privacy.erasure.models import COMPLETED, HELD, Erasure
from privacy.erasure.replay import destroy_expired_holds, replay_tombstones
from privacy.subjects.models import Subject
from support.api import app_headers, count_rows, setup_customers
from support.erasure import distinctive, erase
from support.settings import make_settings

RETENTION = """
[[hold]]
id = "invoices-tax-law"
collections = ["invoices"]
period = "P10Y"
ground = "legal obligation: commercial and tax law"

[[hold]]
id = "fraud-cases"
categories = ["fraud"]
period = "P1Y"
ground = "legitimate interests: fraud prevention"
"""

SCOPES = ["subjects:read", "subjects:write", "records:*:*", "purpose:*"]


@pytest.fixture
def settings(dev_vault, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "retention.toml"
    path.write_text(RETENTION)
    return make_settings(dev_vault, tmp_path, retention_file=path)


@pytest.fixture
def held_subject(client, admin):  # type: ignore[no-untyped-def]
    setup_customers(client, admin)
    collections = {
        "invoices": [
            {"name": "number", "type": "string", "category": "financial", "searchable": True},
            {"name": "amount", "type": "number", "category": "financial"},
        ],
        "cases": [{"name": "note", "type": "string", "category": "fraud"}],
    }
    for name, fields in collections.items():
        r = client.put(f"/v1/collections/{name}", headers=admin, json={"fields": fields})
        assert r.status_code in (200, 201), r.text
    for pid, basis in (("legal_claims", "legal_obligation"), ("billing", "contract")):
        r = client.put(
            f"/v1/purposes/{pid}",
            headers=admin,
            json={
                "description": pid,
                "legal_basis": basis,
                "collections": ["customers", "invoices", "cases"],
            },
        )
        assert r.status_code in (200, 201), r.text
    app = app_headers(client, admin, SCOPES)
    sid = client.post("/v1/subjects", headers=app, json={"external_id": "held-1"}).json()["id"]
    ids: dict[str, list[str]] = {}
    rows = [("customers", distinctive()), ("customers", distinctive())]
    rows += [("invoices", {"number": f"INV-{n}", "amount": 10.5 * n}) for n in (1, 2)]
    rows += [("cases", {"note": "chargeback pattern"})]
    for coll, data in rows:
        r = client.post(
            f"/v1/collections/{coll}/records", headers=app, json={"subject_id": sid, "data": data}
        )
        assert r.status_code == 201, r.text
        ids.setdefault(coll, []).append(r.json()["id"])
    return app, sid, ids


def _read(client, app, coll, rid, purpose):  # type: ignore[no-untyped-def]
    return client.get(
        f"/v1/collections/{coll}/records/{rid}", headers=app, params={"purpose": purpose}
    )


class TestErasureUnderHold:
    def test_held_records_stay_with_their_key_and_the_rest_goes(
        self, client, runtime, held_subject
    ):
        app, sid, ids = held_subject
        result = erase(runtime, sid)

        assert result["status"] == HELD
        assert result["erased"] == {"customers": 2}
        assert result["key_destroyed"] is None
        kept = {k["hold"]: k for k in result["kept"]}
        assert kept["invoices-tax-law"]["collection"] == "invoices"
        assert kept["invoices-tax-law"]["records"] == 2
        assert kept["invoices-tax-law"]["ground"] == "legal obligation: commercial and tax law"
        assert kept["fraud-cases"]["records"] == 1
        assert result["receipt"]["key_destroy_due"] == kept["invoices-tax-law"]["until"]
        assert result["receipt"]["kept"] == result["kept"]
        # No longer findable, and readable only for legal claims (Art. 18 restriction).
        assert count_rows(runtime, "blind_index") == 0
        assert (
            client.get("/v1/subjects", headers=app, params={"external_id": "held-1"}).json() == []
        )
        assert _read(client, app, "customers", ids["customers"][0], "billing").status_code == 404
        assert _read(client, app, "invoices", ids["invoices"][0], "billing").status_code == 403
        ok = _read(client, app, "invoices", ids["invoices"][0], "legal_claims")
        assert ok.status_code == 200 and ok.json()["data"]["number"] == "INV-1"
        # Nothing new can be stored for an erased subject.
        refused = client.post(
            "/v1/collections/invoices/records",
            headers=app,
            json={"subject_id": sid, "data": {"number": "INV-9", "amount": 1}},
        )
        assert refused.status_code == 409
        # Idempotent, and a replay leaves a correctly held subject alone.
        assert erase(runtime, sid) == result
        assert replay_tombstones(runtime) == 0

    def test_the_key_is_destroyed_when_the_last_hold_ends(self, client, runtime, held_subject):
        app, sid, ids = held_subject
        erase(runtime, sid)
        assert destroy_expired_holds(runtime, utcnow()) == 0

        after_fraud = destroy_expired_holds(runtime, utcnow() + timedelta(days=400))
        assert after_fraud == 1
        with new_session(runtime.engine) as s:
            row = s.get(Erasure, uuid.UUID(sid))
            assert row is not None and row.status == HELD
            assert [k["hold"] for k in row.result["kept"]] == ["invoices-tax-law"]
            assert row.result["erased"] == {"customers": 2, "cases": 1}

        assert destroy_expired_holds(runtime, utcnow() + timedelta(days=3700)) == 1
        with new_session(runtime.engine) as s:
            row = s.get(Erasure, uuid.UUID(sid))
            assert row is not None and row.status == COMPLETED
            assert row.result["erased"] == {"customers": 2, "cases": 1, "invoices": 2}
            assert row.result["kept"] == []
            assert row.result["key_destroyed"]["context"] == sid
            assert s.exec(select(Subject).where(Subject.id == uuid.UUID(sid))).first() is None
        assert count_rows(runtime, "records") == 0
        assert count_rows(runtime, "subject_restrictions") == 0
        assert _read(client, app, "invoices", ids["invoices"][0], "legal_claims").status_code == 404
        receipt = {k: row.result[k] for k in ("receipt", "signature", "key_name")}
        verified = client.post("/v1/receipts/verify", headers=app, json=receipt)
        assert verified.json()["valid"] is True
