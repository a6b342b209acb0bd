"""Access and portability exports (Art. 15, 20) through HTTP: completeness field by field,
the signed manifest (verified offline as the README shows), encryption at rest, download
rights, audit, and deletion after the TTL. Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from privacy.db import new_session, utcnow
from privacy.requests.downloads import purge_expired_exports
from support.api import SAMPLE_CUSTOMER, app_headers, audit_rows, new_record, put_consent

REQUESTS = "/v1/requests"
TICKETS = [
    {"name": "title", "type": "string", "category": "support", "required": True},
    {"name": "opened", "type": "date", "category": "support"},
    {"name": "body", "type": "string", "category": "support"},
]
WRITTEN_TICKETS = [
    {"title": "Parcel lost", "opened": "2025-01-31", "body": "=SUM(A1) is not a formula"},
    {"title": "Refund, please", "body": 'Quotes " and, commas\nand a new line'},
]
MORE_CUSTOMERS = [
    {"name": "Alice L.", "vip": False, "score": 0, "prefs": []},
    {"name": "Ünïcödé Ålice", "email": "alice@example.net", "birthday": "2000-02-29"},
]


@pytest.fixture
def held(client, admin, app, subject):
    """The subject's records in two collections: {collection: {record id: data}}."""
    r = client.put("/v1/collections/tickets", headers=admin, json={"fields": TICKETS})
    assert r.status_code in (200, 201), r.text
    writer = app_headers(client, admin, ["subjects:write", "records:write:tickets"])
    sid, first, _ = subject
    customers = {first: SAMPLE_CUSTOMER}
    for data in MORE_CUSTOMERS:
        customers[new_record(client, app, sid, data)] = data
    tickets = {new_record(client, writer, sid, d, collection="tickets"): d for d in WRITTEN_TICKETS}
    put_consent(client, app, sid, "newsletter")
    return {"customers": customers, "tickets": tickets}


def export_zip(client, headers, request_id) -> zipfile.ZipFile:
    r = client.get(f"{REQUESTS}/{request_id}/export", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["cache-control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(r.content))


def public_keys(client) -> dict[str, str]:
    (key,) = client.get("/v1/keys/public").json()["keys"]
    return key["versions"]


def verify_offline(z: zipfile.ZipFile, keys: dict[str, str]) -> list[str]:
    """What the README tells a subject to do: check the signature over the manifest with
    the public key, then each file's SHA-256. Returns the names of files that fail."""
    signed = json.loads(z.read("manifest.json"))
    manifest, signature = signed["receipt"], signed["signature"]
    _, version, sig = signature.split(":", 2)
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[version[1:]])).verify(
        base64.b64decode(sig), canonical.encode()
    )
    return [
        f["name"]
        for f in manifest["files"]
        if hashlib.sha256(z.read(f["name"])).hexdigest() != f["sha256"]
    ]


def file_access(client, headers, sid, type_="access"):
    r = client.post(REQUESTS, headers=headers, json={"subject_id": sid, "type": type_})
    assert r.status_code == 201, r.text
    return r.json()


class TestExportContents:
    def test_every_record_and_field_is_exported_as_written(self, client, app, me, subject, held):
        sid, _, address = subject
        req = file_access(client, me, sid)
        assert req["result"]["records"] == {"customers": 3, "tickets": 2}
        z = export_zip(client, me, req["id"])
        names = set(z.namelist())
        assert names == {
            "data.json",
            "data.schema.json",
            "customers.csv",
            "tickets.csv",
            "consent_history.json",
            "access_log.json",
            "summary.pdf",
            "manifest.json",
        }
        data = json.loads(z.read("data.json"))
        assert data["subject"]["id"] == sid and data["subject"]["email"] == address
        assert data["subject"]["external_id"].startswith("ext-")
        exported = {
            c: {r["id"]: r["data"] for r in rows} for c, rows in data["collections"].items()
        }
        # Tickets: every value exactly as written.
        assert exported["tickets"] == held["tickets"]
        # Customers: exactly what the read API returns (values are stored normalised).
        for rid, written in held["customers"].items():
            api = client.get(
                f"/v1/collections/customers/records/{rid}",
                headers=app,
                params={"purpose": "support"},
            ).json()["data"]
            assert exported["customers"][rid] == api
            assert set(api) == set(written)
        assert (
            exported["customers"][next(iter(held["customers"]))]["prefs"]
            == SAMPLE_CUSTOMER["prefs"]
        )

        schema = json.loads(z.read("data.schema.json"))
        record = schema["properties"]["collections"]["properties"]["tickets"]["items"]
        assert set(record["properties"]["data"]["properties"]) == {"title", "opened", "body"}

        rows = list(csv.DictReader(io.StringIO(z.read("tickets.csv").decode())))
        assert {r["record_id"]: r["title"] for r in rows} == {
            rid: d["title"] for rid, d in held["tickets"].items()
        }
        by_id = {r["record_id"]: r for r in rows}
        first = next(iter(held["tickets"]))
        assert by_id[first]["body"] == "'=SUM(A1) is not a formula"  # no formula injection
        second = list(held["tickets"])[1]
        assert by_id[second]["body"] == WRITTEN_TICKETS[1]["body"] and by_id[second]["opened"] == ""
        customers = list(csv.DictReader(io.StringIO(z.read("customers.csv").decode())))
        assert len(customers) == 3 and "prefs" in customers[0]

        consent = json.loads(z.read("consent_history.json"))
        assert [e["purpose"] for e in consent["events"]] == ["newsletter"]
        assert consent["chain_verified"] is True
        log = json.loads(z.read("access_log.json"))
        assert sum(e["action"] == "record.create" for e in log) == 5
        assert all("data" not in e for e in log)
        assert z.read("summary.pdf").startswith(b"%PDF")

    def test_export_is_audited_as_reads_with_the_dsr_purpose(
        self, client, me, subject, held, runtime
    ):
        sid = subject[0]
        req = file_access(client, me, sid, "portability")
        reads = audit_rows(runtime, action="record.read", purpose="dsr_access")
        assert {(e["collection"], e["reason"]) for e in reads} == {
            ("customers", f"request:{req['id']};records:3"),
            ("tickets", f"request:{req['id']};records:2"),
        }
        assert set(next(e for e in reads if e["collection"] == "tickets")["fields"]) == {
            "title",
            "opened",
            "body",
        }
        log = client.get(f"/v1/subjects/{sid}/access-log", headers=me).json()["items"]
        assert any(i["purpose"] == "dsr_access" for i in log)


class TestManifest:
    def test_manifest_signature_verifies_offline_and_online(self, client, me, subject, held):
        req = file_access(client, me, subject[0])
        z = export_zip(client, me, req["id"])
        assert verify_offline(z, public_keys(client)) == []
        signed = json.loads(z.read("manifest.json"))
        assert signed["receipt"]["type"] == "dsr_export"
        assert signed["receipt"]["request_id"] == req["id"]
        assert signed["signature"] == req["result"]["export"]["manifest_signature"]
        r = client.post("/v1/receipts/verify", headers=me, json=signed)
        assert r.status_code == 200 and r.json()["valid"] is True

    def test_a_changed_file_is_detected(self, client, me, subject, held):
        req = file_access(client, me, subject[0])
        original = export_zip(client, me, req["id"])
        tampered_buf = io.BytesIO()
        with zipfile.ZipFile(tampered_buf, "w") as out:
            for name in original.namelist():
                content = original.read(name)
                if name == "tickets.csv":
                    content = content.replace(b"Parcel lost", b"Parcel found")
                out.writestr(name, content)
        tampered = zipfile.ZipFile(io.BytesIO(tampered_buf.getvalue()))
        assert verify_offline(tampered, public_keys(client)) == ["tickets.csv"]

    def test_a_changed_manifest_fails_its_signature(self, client, me, subject, held):
        req = file_access(client, me, subject[0])
        original = export_zip(client, me, req["id"])
        signed = json.loads(original.read("manifest.json"))
        signed["receipt"]["files"][0]["sha256"] = "0" * 64
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for name in original.namelist():
                body = (
                    json.dumps(signed).encode() if name == "manifest.json" else original.read(name)
                )
                out.writestr(name, body)
        with pytest.raises(InvalidSignature):
            verify_offline(zipfile.ZipFile(io.BytesIO(buf.getvalue())), public_keys(client))
        r = client.post("/v1/receipts/verify", headers=me, json=signed)
        assert r.json()["valid"] is False


class TestStorage:
    def test_archive_is_encrypted_at_rest_and_damage_fails_closed(
        self, client, me, subject, held, settings
    ):
        req = file_access(client, me, subject[0])
        (path,) = (settings.data_dir / "exports").glob("*.pvx")
        raw = path.read_bytes()
        assert not raw.startswith(b"PK") and b"Parcel lost" not in raw
        assert subject[2].encode() not in raw
        damaged = bytearray(raw)
        damaged[len(raw) // 2] ^= 1
        path.write_bytes(bytes(damaged))
        r = client.get(f"{REQUESTS}/{req['id']}/export", headers=me)
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("application/problem+json")
        path.write_bytes(raw[: len(raw) - 10])  # truncated
        assert client.get(f"{REQUESTS}/{req['id']}/export", headers=me).status_code == 500

    def test_an_expired_export_is_refused_even_before_the_purge(
        self, client, me, subject, held, runtime
    ):
        req = file_access(client, me, subject[0])
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE dsr_exports SET expires_at = :t"), {"t": utcnow()})
        r = client.get(f"{REQUESTS}/{req['id']}/export", headers=me)
        assert r.status_code == 410
        assert r.headers["content-type"].startswith("application/problem+json")

    def test_expired_exports_are_deleted_with_their_key(
        self, client, me, subject, held, runtime, settings
    ):
        req = file_access(client, me, subject[0])
        with new_session(runtime.engine) as session:
            assert purge_expired_exports(session, utcnow(), rt=runtime) == 0
            session.commit()
        later = utcnow() + timedelta(days=settings.export_ttl_days, seconds=1)
        with new_session(runtime.engine) as session:
            assert purge_expired_exports(session, later, rt=runtime) == 1
            session.commit()
        assert list((settings.data_dir / "exports").glob("*.pvx")) == []
        r = client.get(f"{REQUESTS}/{req['id']}/export", headers=me)
        assert r.status_code == 410
        with new_session(runtime.engine) as session:
            assert purge_expired_exports(session, later, rt=runtime) == 0
        assert audit_rows(runtime, action="request.export_purge")


class TestDownload:
    def test_the_subject_and_the_dpo_may_download_and_it_is_audited(
        self, client, app, dpo, me, subject, held, runtime
    ):
        req = file_access(client, app, subject[0], "portability")
        url = f"{REQUESTS}/{req['id']}"
        # Not before the request is completed.
        assert client.get(url + "/export", headers=dpo).status_code == 409
        client.post(url + "/verify-identity", headers=dpo, json={"method": "app_account"})
        assert client.post(url + "/process", headers=dpo).json()["status"] == "completed"
        assert client.get(url + "/export", headers=app).status_code == 403
        assert verify_offline(export_zip(client, dpo, req["id"]), public_keys(client)) == []
        assert verify_offline(export_zip(client, me, req["id"]), public_keys(client)) == []
        downloads = audit_rows(runtime, action="request.export_download")
        assert [d["actor"].split(":")[0] for d in downloads] == ["user", "subject"]

    def test_other_types_have_no_export(self, client, me, subject):
        r = client.post(
            REQUESTS,
            headers=me,
            json={"subject_id": subject[0], "type": "restriction", "ground": "other"},
        )
        assert client.get(f"{REQUESTS}/{r.json()['id']}/export", headers=me).status_code == 404
