"""The consent ledger and its signed receipts, through HTTP.
Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from support.api import audit_rows, put_consent

RECORDS = "/v1/collections/customers/records"
NOTICE = "Wir schicken dir einmal im Monat Neuigkeiten. Abbestellen geht jederzeit."


def canonical(obj) -> bytes:
    # Written out again here, from the README, rather than imported: the format is the contract.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def recomputed_hash(event) -> str:
    keys = ["id", "subject_id", "seq", "purpose", "granted", "policy_version", "source"]
    keys += ["text_hash", "actor", "at", "prev_hash"]
    return hashlib.sha256(canonical({k: event[k] for k in keys})).hexdigest()


class TestConsentLedger:
    def test_history_shows_grant_and_withdrawal_with_a_verifiable_chain(
        self, client, app, subject, runtime
    ):
        sid, _ = subject
        put_consent(client, app, sid, text=NOTICE, source="import")
        put_consent(client, app, sid, granted=False, policy_version="2025-02")
        r = client.get(
            f"/v1/subjects/{sid}/consents/history", headers=app, params={"include_text": True}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        grant, withdrawal = body["items"]
        assert (grant["granted"], withdrawal["granted"]) == (True, False)
        assert (grant["source"], withdrawal["source"]) == ("import", "app")
        assert grant["text_hash"] == hashlib.sha256(NOTICE.encode()).hexdigest()
        assert grant["text"] == NOTICE and withdrawal["text"] is None
        assert grant["prev_hash"] == "0" * 64
        assert withdrawal["prev_hash"] == grant["hash"]
        assert [recomputed_hash(e) for e in body["items"]] == [grant["hash"], withdrawal["hash"]]
        assert body["verified"] is True and body["head_hash"] == withdrawal["hash"]
        assert grant["actor"].startswith("app:")

        # An edited event breaks the chain, and the history says where.
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE consent_events SET granted = true WHERE seq = 2"))
        body = client.get(f"/v1/subjects/{sid}/consents/history", headers=app).json()
        assert body["verified"] is False and body["first_bad_seq"] == 2

    def test_current_state_per_purpose(self, client, app, subject, runtime):
        sid, _ = subject
        url = f"/v1/subjects/{sid}/consents"
        state = client.get(url, headers=app).json()
        assert state["items"] == [
            {
                "purpose": "newsletter",
                "legal_basis": "consent",
                "granted": False,
                "policy_version": None,
                "event_id": None,
                "updated_at": None,
            }
        ]
        assert state["restriction"]["restricted"] is False
        event = put_consent(client, app, sid, policy_version="v4.1").json()["event"]
        (item,) = client.get(url, headers=app).json()["items"]
        assert (item["granted"], item["policy_version"], item["event_id"]) == (
            True,
            "v4.1",
            event["id"],
        )
        grants = audit_rows(runtime, action="consent.grant", subject_id=sid)
        assert [g["reason"] for g in grants] == ["policy:v4.1;source:app"]

    def test_bad_input(self, client, app, subject):
        sid, _ = subject
        r = put_consent(client, app, sid, "support")
        assert r.status_code == 422 and "contract" in r.json()["detail"]
        assert put_consent(client, app, sid, policy_version="../etc").status_code == 422
        assert put_consent(client, app, sid, policy_version="").status_code == 422
        assert put_consent(client, app, sid, policy_version="x" * 33).status_code == 422
        assert put_consent(client, app, sid, "no_such_purpose").status_code == 404
        assert put_consent(client, app, str(uuid.uuid4())).status_code == 404
        r = put_consent(client, app, sid, text=NOTICE, text_hash="0" * 64)
        assert r.status_code == 422
        assert put_consent(client, app, sid, source="fax").status_code == 422
        assert put_consent(client, app, sid, shown_at="now").status_code == 422
        r = client.get(f"{RECORDS}/{subject[1]}", headers=app)
        assert r.status_code == 400 and r.json()["rule"] == "purpose_missing"


class TestReceipts:
    def test_receipt_verifies_online_and_offline_and_a_modified_one_does_not(
        self, client, app, subject
    ):
        sid, _ = subject
        signed = put_consent(client, app, sid, text=NOTICE).json()["receipt"]
        receipt = signed["receipt"]
        assert receipt["type"] == "consent" and receipt["granted"] is True
        assert receipt["subject_id"] == sid and receipt["purpose"] == "newsletter"
        assert receipt["text_hash"] == hashlib.sha256(NOTICE.encode()).hexdigest()
        assert {"event_id", "event_hash", "prev_hash", "at", "policy_version"} <= set(receipt)

        r = client.post("/v1/receipts/verify", headers=app, json=signed)
        assert r.status_code == 200, r.text
        assert r.json()["valid"] is True and r.json()["in_ledger"] is True

        forged = {**signed, "receipt": {**receipt, "granted": False}}
        r = client.post("/v1/receipts/verify", headers=app, json=forged)
        assert r.status_code == 200 and r.json()["valid"] is False
        garbled = {**signed, "signature": signed["signature"][:-8] + "AAAAAAA="}
        assert (
            client.post("/v1/receipts/verify", headers=app, json=garbled).json()["valid"] is False
        )
        wrong_key = {**signed, "key_name": "privacy-service"}
        assert client.post("/v1/receipts/verify", headers=app, json=wrong_key).json() == {
            "valid": False,
            "key_name": signed["key_name"],
            "key_version": None,
            "in_ledger": None,
        }

        keys = client.get("/v1/keys/public").json()["keys"]
        (entry,) = [k for k in keys if k["use"] == "receipts"]
        _, version, sig = signed["signature"].split(":", 2)
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(entry["versions"][version[1:]])
        )
        public.verify(base64.b64decode(sig), canonical(receipt))
        with pytest.raises(InvalidSignature):
            public.verify(base64.b64decode(sig), canonical(forged["receipt"]))

    def test_verify_needs_a_signed_in_principal(self, client, app, subject):
        r = client.post("/v1/receipts/verify", json={"receipt": {}, "signature": "vault:v1:AA=="})
        assert r.status_code == 401
