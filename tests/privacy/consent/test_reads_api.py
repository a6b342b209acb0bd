"""Purpose-bound reads against consent, restriction and objection, through HTTP.
Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

from support.api import (
    FULL_APP_SCOPES,
    app_headers,
    audit_rows,
    new_record,
    new_subject,
    put_consent,
    user_headers,
)

RECORDS = "/v1/collections/customers/records"


def read(client, headers, rid, purpose="newsletter", **params):
    return client.get(f"{RECORDS}/{rid}", headers=headers, params={"purpose": purpose, **params})


class TestPurposeBoundReads:
    def test_grant_read_withdraw_refused_on_the_next_request(self, client, app, subject, runtime):
        sid, rid = subject
        assert put_consent(client, app, sid, text="Monthly news.").status_code == 200
        r = read(client, app, rid)
        assert r.status_code == 200, r.text
        assert set(r.json()["data"]) == {"name", "email"}

        assert put_consent(client, app, sid, granted=False).status_code == 200
        r = read(client, app, rid)
        assert r.status_code == 403
        assert r.json()["rule"] == "consent_withdrawn"
        assert "consent rule" in r.json()["detail"]
        listed = client.get(
            RECORDS, headers=app, params={"subject_id": sid, "purpose": "newsletter"}
        )
        assert listed.status_code == 403

        reads = audit_rows(runtime, action="record.read", record_id=rid)
        assert [(a["outcome"], a["reason"]) for a in reads] == [
            ("ok", "consent_granted"),
            ("denied", "consent_withdrawn"),
        ]

    def test_no_consent_ever_is_refused_naming_the_rule(self, client, app, subject, runtime):
        sid, rid = subject
        r = read(client, app, rid)
        assert r.status_code == 403
        assert r.json()["rule"] == "consent_not_granted"
        assert "newsletter" in r.json()["detail"]
        assert audit_rows(runtime, outcome="denied", reason="consent_not_granted", subject_id=sid)
        # Other bases need no consent; the allowed read names its basis.
        assert read(client, app, rid, "support").status_code == 200
        assert audit_rows(runtime, outcome="ok", reason="legal_basis:contract", record_id=rid)

    def test_field_outside_the_purpose_is_refused_even_with_consent(self, client, app, subject):
        sid, rid = subject
        put_consent(client, app, sid)
        r = read(client, app, rid, fields="phone")
        assert r.status_code == 403
        assert r.json()["rule"] == "purpose_fields"
        assert "phone" in r.json()["detail"]

    def test_app_without_the_purpose_is_refused(self, client, admin, app, subject, runtime):
        sid, rid = subject
        put_consent(client, app, sid)
        other = app_headers(client, admin, FULL_APP_SCOPES)
        r = read(client, other, rid)
        assert r.status_code == 403
        assert r.json()["rule"] == "purpose_not_granted"
        r = put_consent(client, other, sid, granted=False)
        assert r.status_code == 403
        assert audit_rows(runtime, action="consent.withdraw", reason="purpose_not_granted")

    def test_search_omits_subjects_without_consent_and_audits_them(self, client, app, runtime):
        email = "shared@example.org"
        yes, no = new_subject(client, app), new_subject(client, app)
        rid_yes = new_record(client, app, yes, {"name": "Yes", "email": email})
        rid_no = new_record(client, app, no, {"name": "No", "email": email})
        put_consent(client, app, yes)
        r = client.post(
            "/v1/collections/customers/search",
            headers=app,
            params={"purpose": "newsletter"},
            json={"email": email},
        )
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == [rid_yes]
        assert "No" not in r.text
        (search,) = audit_rows(runtime, action="record.search")
        assert search["reason"] == "matches:2;omitted:1"
        (denied,) = audit_rows(runtime, action="record.read", outcome="denied")
        assert (denied["record_id"], denied["reason"]) == (rid_no, "consent_not_granted")
        # With a basis that needs no consent, both are found.
        r = client.post(
            "/v1/collections/customers/search",
            headers=app,
            params={"purpose": "support"},
            json={"email": email},
        )
        assert {i["id"] for i in r.json()["items"]} == {rid_yes, rid_no}


class TestRestriction:
    def test_restricted_subject_is_read_only_for_legal_claims_and_flagged(
        self, client, admin, app, subject, runtime
    ):
        sid, rid = subject
        put_consent(client, app, sid)
        url = f"/v1/subjects/{sid}/restriction"
        assert client.put(url, headers=app, json={"restricted": True}).status_code == 422
        r = client.put(url, headers=app, json={"restricted": True, "reason": "accuracy_contested"})
        assert r.status_code == 200, r.text
        assert r.json()["restricted"] is True

        for purpose in ("support", "newsletter", "marketing"):
            r = read(client, app, rid, purpose)
            assert r.status_code == 403, purpose
            assert r.json()["rule"] == "restricted"
        r = read(client, app, rid, "legal_claims")
        assert r.status_code == 200, r.text
        (flagged,) = audit_rows(runtime, action="record.read", outcome="ok")
        assert (flagged["purpose"], flagged["reason"]) == (
            "legal_claims",
            "restricted_legal_claims",
        )
        assert audit_rows(runtime, action="restriction.set", reason="accuracy_contested")

        dpo = user_headers(client, runtime, "dpo")
        r = client.put(url, headers=dpo, json={"restricted": False})
        assert r.status_code == 200 and r.json()["restricted"] is False
        assert read(client, app, rid, "support").status_code == 200
        assert audit_rows(runtime, action="restriction.lift", actor=r.json()["updated_by"])

    def test_legal_claims_purpose_needs_a_fitting_legal_basis(self, client, admin, app):
        body = {"description": "x", "legal_basis": "consent", "collections": ["customers"]}
        r = client.put("/v1/purposes/legal_claims", headers=admin, json=body)
        assert r.status_code == 422 and "legal_claims" in r.json()["detail"]


class TestObjection:
    def test_objection_stops_legitimate_interest_reads_but_not_legal_claims(
        self, client, app, subject, runtime
    ):
        sid, rid = subject
        assert read(client, app, rid, "marketing").status_code == 200
        url = f"/v1/subjects/{sid}/objections/marketing"
        r = client.put(url, headers=app, json={"objected": True})
        assert r.status_code == 200, r.text
        r = read(client, app, rid, "marketing")
        assert r.status_code == 403 and r.json()["rule"] == "objected"
        assert read(client, app, rid, "support").status_code == 200
        assert read(client, app, rid, "legal_claims").status_code == 200
        client.put(url, headers=app, json={"objected": False})
        assert read(client, app, rid, "marketing").status_code == 200
        actions = [a["action"] for a in audit_rows(runtime, subject_id=sid, purpose="marketing")]
        assert "objection.set" in actions and "objection.lift" in actions

    def test_objection_to_other_bases_is_422(self, client, app, subject):
        sid, _ = subject
        for purpose in ("support", "newsletter", "legal_claims"):
            r = client.put(
                f"/v1/subjects/{sid}/objections/{purpose}", headers=app, json={"objected": True}
            )
            assert r.status_code == 422, purpose
        r = client.put(f"/v1/subjects/{sid}/objections/nope", headers=app, json={"objected": True})
        assert r.status_code == 404
