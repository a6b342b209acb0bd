"""Erasure through the service, checked through the API and the database."""

from __future__ import annotations

import copy
import uuid

import pytest
from sqlmodel import select

from privacy.db import new_session
from privacy.erasure import tombstones
from privacy.erasure.models import COMPLETED, Erasure
from privacy.errors import NotFound
from support.api import (
    CONSENT_APP_SCOPES,
    app_headers,
    count_rows,
    new_record,
    new_subject,
    put_consent,
    setup_consent_purposes,
)
from support.erasure import distinctive, erase


def _reads(client, headers, subject_id, record_id):  # type: ignore[no-untyped-def]
    q = {"purpose": "support"}
    return {
        "subject": client.get(f"/v1/subjects/{subject_id}", headers=headers).status_code,
        "record": client.get(
            f"/v1/collections/customers/records/{record_id}", headers=headers, params=q
        ).status_code,
        "consents": client.get(f"/v1/subjects/{subject_id}/consents", headers=headers).status_code,
        "history": client.get(
            f"/v1/subjects/{subject_id}/consents/history", headers=headers
        ).status_code,
        "restriction": client.get(
            f"/v1/subjects/{subject_id}/restriction", headers=headers
        ).status_code,
    }


class TestEraseSubject:
    def test_records_index_consent_and_key_are_gone(self, client, vault_app, runtime, admin):
        values = distinctive()
        setup_consent_purposes(client, admin)
        vault_app = app_headers(client, admin, CONSENT_APP_SCOPES)
        sid = new_subject(client, vault_app, email=values["email"])
        assert put_consent(client, vault_app, sid).status_code == 200
        rids = [new_record(client, vault_app, sid, values) for _ in range(3)]
        other = new_subject(client, vault_app)
        kept_rid = new_record(client, vault_app, other, values)
        assert set(_reads(client, vault_app, sid, rids[0]).values()) == {200}

        result = erase(runtime, sid)

        assert result["status"] == COMPLETED
        assert result["erased"] == {"customers": 3}
        assert result["erased_other"]["blind_index"] == 6  # email and phone, 3 records
        assert result["key_destroyed"]["context"] == sid
        assert result["kept"] == []
        assert result["erased_other"]["consent_events"] == 1
        assert set(_reads(client, vault_app, sid, rids[0]).values()) == {404}
        found = client.post(
            "/v1/collections/customers/search",
            headers=vault_app,
            params={"purpose": "support"},
            json={"email": values["email"]},
        )
        assert [r["id"] for r in found.json()["items"]] == [kept_rid]
        by_email = client.get("/v1/subjects", headers=vault_app, params={"email": values["email"]})
        assert by_email.json() == []
        listed = client.get(
            "/v1/collections/customers/records",
            headers=vault_app,
            params={"subject_id": sid, "purpose": "support"},
        )
        assert listed.json().get("items", []) == []
        assert count_rows(runtime, "records") == 1
        assert count_rows(runtime, "blind_index") == 2
        assert count_rows(runtime, "subjects") == 1

    def test_receipt_verifies_and_an_altered_one_does_not(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        new_record(client, vault_app, sid)
        result = erase(runtime, sid)
        body = {k: result[k] for k in ("receipt", "signature", "key_name")}
        assert body["receipt"]["type"] == "erasure"
        ok = client.post("/v1/receipts/verify", headers=vault_app, json=body)
        assert ok.status_code == 200 and ok.json()["valid"] is True

        for change in (
            lambda r: r["erased"].update(customers=0),
            lambda r: r.update(key_destroyed=None),
            lambda r: r.update(backups_hold_data_until="2099-01-01T00:00:00.000000Z"),
        ):
            altered = copy.deepcopy(body)
            change(altered["receipt"])
            bad = client.post("/v1/receipts/verify", headers=vault_app, json=altered)
            assert bad.status_code == 200 and bad.json()["valid"] is False

    def test_erasing_twice_is_harmless_and_returns_the_same_result(
        self, client, vault_app, runtime
    ):
        sid = new_subject(client, vault_app)
        new_record(client, vault_app, sid)
        first = erase(runtime, sid)
        second = erase(runtime, sid)
        assert second == first
        with new_session(runtime.engine) as s:
            assert len(s.exec(select(Erasure)).all()) == 1

    def test_an_unknown_subject_is_not_found(self, runtime):
        with pytest.raises(NotFound):
            erase(runtime, uuid.uuid4())

    def test_the_tombstone_in_vault_names_no_personal_data(self, client, vault_app, runtime):
        values = distinctive()
        ext = f"customer-{uuid.uuid4().hex}"
        sid = new_subject(client, vault_app, external_id=ext, email=values["email"])
        new_record(client, vault_app, sid, values)
        erase(runtime, sid, request_id=uuid.uuid4())
        stone = tombstones.read(tombstones.store(runtime), uuid.UUID(sid))
        assert stone is not None and stone["status"] == COMPLETED
        dumped = repr(stone)
        assert sid in dumped
        for value in (ext, values["email"], values["name"], "zq.", "Zebulon"):
            assert value not in dumped
        digest = runtime.indexer.digest("_subject.external_id", "id", ext)
        assert digest not in dumped

    def test_without_its_database_row_the_result_comes_from_the_tombstone(
        self, client, vault_app, runtime
    ):
        sid = new_subject(client, vault_app)
        new_record(client, vault_app, sid)
        first = erase(runtime, sid)
        with new_session(runtime.engine) as s:
            row = s.get(Erasure, uuid.UUID(sid))
            s.delete(row)
            s.commit()
        assert erase(runtime, sid) == first
