"""What the vault does when things go wrong: tampered or moved ciphertext, swapped or
destroyed keys, Vault or the database going away. It must fail closed, say so as a
problem, leave an audit trail, and never write half a change or leak a value."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update

import kms
from privacy.app import create_app
from privacy.db import make_engine, new_session
from privacy.runtime import Runtime, build_runtime
from privacy.subjects import sealing
from privacy.subjects.models import Record, Subject
from support.api import (
    FULL_APP_SCOPES,
    SAMPLE_CUSTOMER,
    app_headers,
    audit_rows,
    count_rows,
    dump_tables,
    new_record,
    new_subject,
    setup_customers,
    user_headers,
)
from support.openbao import DevServer, OpenBaoUnavailable, free_port, start_dev_server

RECORDS = "/v1/collections/customers/records"


def read(client, headers, rid, purpose="support"):
    return client.get(f"{RECORDS}/{rid}", headers=headers, params={"purpose": purpose})


def sealed_of(rt: Runtime, rid: str) -> dict[str, str]:
    with new_session(rt.engine) as session:
        record = session.get(Record, uuid.UUID(rid))
        assert record is not None
        return dict(record.sealed)


def set_sealed(rt: Runtime, rid: str, sealed: dict[str, str]) -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            update(Record.__table__).where(Record.__table__.c.id == uuid.UUID(rid)),
            {"sealed": sealed},
        )


def wrapped_dek_of(rt: Runtime, sid: str) -> str:
    with new_session(rt.engine) as session:
        subject = session.get(Subject, uuid.UUID(sid))
        assert subject is not None
        return subject.wrapped_dek


def set_wrapped_dek(rt: Runtime, sid: str, wrapped: str) -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            update(Subject.__table__).where(Subject.__table__.c.id == uuid.UUID(sid)),
            {"wrapped_dek": wrapped},
        )


def flip_byte(stored: str, at: int = -5) -> str:
    blob = bytearray(base64.b64decode(stored))
    blob[at] ^= 0x01
    return base64.b64encode(bytes(blob)).decode()


def assert_integrity_problem(resp) -> None:
    assert resp.status_code == 500, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"].endswith("integrity-error")
    assert body["status"] == 500
    assert "Traceback" not in resp.text and 'File "' not in resp.text


class TestTamperedCiphertext:
    def test_flipped_byte_fails_closed_and_is_audited(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "name": flip_byte(sealed["name"])})
        r = read(client, vault_app, rid)
        assert_integrity_problem(r)
        assert SAMPLE_CUSTOMER["name"] not in r.text
        bad = audit_rows(runtime, outcome="integrity_error")
        assert len(bad) == 1
        assert bad[0]["record_id"] == rid and bad[0]["subject_id"] == sid
        assert bad[0]["request_id"] == r.headers["x-request-id"]

    def test_tampered_field_not_asked_for_does_not_block_the_others(
        self, client, vault_app, runtime
    ):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "phone": flip_byte(sealed["phone"], at=10)})
        r = client.get(
            f"{RECORDS}/{rid}", headers=vault_app, params={"purpose": "support", "fields": "name"}
        )
        assert r.status_code == 200
        assert_integrity_problem(read(client, vault_app, rid))

    def test_garbage_that_is_not_base64_fails_closed(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "email": "%%% not base64 %%%"})
        assert_integrity_problem(read(client, vault_app, rid))

    def test_truncated_ciphertext_fails_closed(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        sealed = sealed_of(runtime, rid)
        short = base64.b64encode(base64.b64decode(sealed["email"])[:5]).decode()
        set_sealed(runtime, rid, {**sealed, "email": short})
        assert_integrity_problem(read(client, vault_app, rid))

    def test_listing_with_a_tampered_record_fails_closed(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        new_record(client, vault_app, sid, {"name": "Fine"})
        rid = new_record(client, vault_app, sid)
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "name": flip_byte(sealed["name"])})
        r = client.get(RECORDS, headers=vault_app, params={"subject_id": sid, "purpose": "support"})
        assert_integrity_problem(r)
        assert "Fine" not in r.text


class TestMovedCiphertext:
    def test_value_swapped_between_fields_fails(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "name": sealed["email"], "email": sealed["name"]})
        assert_integrity_problem(read(client, vault_app, rid))

    def test_value_swapped_between_records_of_one_subject_fails(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        a = new_record(client, vault_app, sid)
        b = new_record(client, vault_app, sid, {**SAMPLE_CUSTOMER, "name": "Bob"})
        sa, sb = sealed_of(runtime, a), sealed_of(runtime, b)
        set_sealed(runtime, a, {**sa, "name": sb["name"]})
        set_sealed(runtime, b, {**sb, "name": sa["name"]})
        assert_integrity_problem(read(client, vault_app, a))
        assert_integrity_problem(read(client, vault_app, b))

    def test_value_moved_to_another_subjects_record_fails(self, client, vault_app, runtime):
        a = new_record(client, vault_app, new_subject(client, vault_app))
        b = new_record(client, vault_app, new_subject(client, vault_app), {"name": "Bob"})
        set_sealed(runtime, b, {**sealed_of(runtime, b), "email": sealed_of(runtime, a)["email"]})
        r = read(client, vault_app, b)
        assert_integrity_problem(r)
        assert "alice" not in r.text.lower()

    def test_whole_record_moved_to_another_subject_fails(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        other = new_subject(client, vault_app)
        with runtime.engine.begin() as conn:
            conn.execute(
                update(Record.__table__).where(Record.__table__.c.id == uuid.UUID(rid)),
                {"subject_id": uuid.UUID(other)},
            )
        assert_integrity_problem(read(client, vault_app, rid))


class TestWrappedKeys:
    def test_dek_copied_to_another_subject_does_not_open(self, client, vault_app, runtime):
        a = new_subject(client, vault_app)
        b = new_subject(client, vault_app)
        new_record(client, vault_app, a)
        rb = new_record(client, vault_app, b, {"name": "Bob"})
        a_wrapped = wrapped_dek_of(runtime, a)
        set_wrapped_dek(runtime, b, a_wrapped)
        runtime.dek_cache.clear()
        assert_integrity_problem(read(client, vault_app, rb))
        # The refusal comes from Vault itself: A's DEK is bound to A's id as the
        # derived-key context, so it cannot even be unwrapped as B's.
        with pytest.raises(kms.DecryptionFailed):
            runtime.keyring.cipher(a_wrapped, sealing.key_context(uuid.UUID(b)))
        runtime.keyring.cipher(a_wrapped, sealing.key_context(uuid.UUID(a)))

    def test_replaced_dek_shreds_the_subjects_records(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rids = [new_record(client, vault_app, sid) for _ in range(2)]
        assert read(client, vault_app, rids[0]).status_code == 200
        # Crypto-shredding: the only wrapped copy of the DEK is replaced by a fresh key
        # and the cached copy evicted; the stored ciphertext stays but cannot be opened.
        context = sealing.key_context(uuid.UUID(sid))
        fresh, _ = runtime.keyring.new_key(context)
        set_wrapped_dek(runtime, sid, fresh)
        runtime.keyring.forget(context)
        for rid in rids:
            r = read(client, vault_app, rid)
            assert_integrity_problem(r)
            assert SAMPLE_CUSTOMER["name"] not in r.text
        assert len(audit_rows(runtime, outcome="integrity_error")) == 2

    def test_garbage_wrapped_dek_fails_closed(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        set_wrapped_dek(runtime, sid, "vault:v1:" + base64.b64encode(b"x" * 60).decode())
        assert_integrity_problem(read(client, vault_app, rid))


@dataclass
class Outage:
    server: DevServer
    rt: Runtime
    client: TestClient
    app: dict[str, str]
    subject: str
    record: str


@pytest.fixture
def outage(engine, tmp_path: Path) -> Iterator[Outage]:
    """A vault on its own OpenBao dev server, which the test may stop."""
    from support.settings import make_settings

    try:
        server = start_dev_server()
    except OpenBaoUnavailable as exc:
        pytest.skip(f"OpenBao unavailable: {exc}")
    try:
        kms.TransitClient(server.addr, token=server.token).enable_transit()
        rt = build_runtime(make_settings(server, tmp_path, vault_timeout=1.0), engine=engine)
        with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as client:
            admin = user_headers(client, rt, "admin")
            setup_customers(client, admin)
            app = app_headers(client, admin, FULL_APP_SCOPES)
            sid = new_subject(client, app)
            rid = new_record(client, app, sid)
            yield Outage(server, rt, client, app, sid, rid)
    finally:
        server.stop()


class TestVaultDown:
    def test_new_subject_is_503_and_nothing_is_written(self, outage: Outage):
        before = count_rows(outage.rt, "subjects")
        outage.server.stop()
        r = outage.client.post("/v1/subjects", headers=outage.app, json={"external_id": "x-1"})
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"]
        assert r.json()["type"].endswith("service-unavailable")
        assert count_rows(outage.rt, "subjects") == before

    def test_cold_cache_read_is_503(self, outage: Outage):
        outage.server.stop()
        outage.rt.dek_cache.clear()
        r = read(outage.client, outage.app, outage.record)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert SAMPLE_CUSTOMER["name"] not in r.text

    def test_cold_cache_write_is_503_and_nothing_is_written(self, outage: Outage):
        outage.server.stop()
        outage.rt.dek_cache.clear()
        r = outage.client.post(
            RECORDS, headers=outage.app, json={"subject_id": outage.subject, "data": {"name": "N"}}
        )
        assert r.status_code == 503, r.text
        assert count_rows(outage.rt, "records") == 1

    def test_warm_cache_keeps_reads_working(self, outage: Outage):
        outage.server.stop()
        r = read(outage.client, outage.app, outage.record)
        assert r.status_code == 200, r.text

    def test_readiness_reports_vault_down(self, outage: Outage):
        assert outage.client.get("/readyz").status_code == 200
        outage.server.stop()
        r = outage.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": True, "vault": False}


class TestDatabaseDown:
    def broken_engine(self, dialect: str, tmp_path: Path):
        if dialect == "sqlite":
            # A path under a regular file can never be opened, whoever we run as.
            blocker = tmp_path / "not-a-directory"
            blocker.write_text("")
            return create_engine(f"sqlite:///{blocker}/privacy.db")
        return make_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
            connect_args={"connect_timeout": 2},
        )

    def test_write_is_503_problem(self, client, vault_app, runtime, tmp_path):
        sid = new_subject(client, vault_app)
        healthy = runtime.engine
        broken = self.broken_engine(healthy.dialect.name, tmp_path)
        runtime.engine = broken
        try:
            r = client.post(
                RECORDS, headers=vault_app, json={"subject_id": sid, "data": {"name": "N"}}
            )
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("service-unavailable")
            assert "Traceback" not in r.text
            assert client.get("/readyz").status_code == 503
        finally:
            runtime.engine = healthy
            broken.dispose()
        assert count_rows(runtime, "records") == 0


class TestNoPlaintextInLogs:
    NAME, EMAIL, PHONE = "Zebulon Quackenbush", "zq.private@example.net", "+4915155501234"

    def test_values_never_reach_logs_or_the_audit_log(
        self, client, vault_app, runtime, caplog: pytest.LogCaptureFixture
    ):
        caplog.set_level(logging.DEBUG)
        sid = new_subject(client, vault_app, email=self.EMAIL)
        data = {"name": self.NAME, "email": self.EMAIL, "phone": self.PHONE}
        rid = new_record(client, vault_app, sid, data)
        r = read(client, vault_app, rid)
        assert r.json()["data"] == data
        r = client.post(
            "/v1/collections/customers/search",
            headers=vault_app,
            params={"purpose": "support"},
            json={"email": self.EMAIL},
        )
        assert [i["id"] for i in r.json()["items"]] == [rid]
        bad = client.post(
            RECORDS,
            headers=vault_app,
            json={"subject_id": sid, "data": {"name": self.NAME, "score": self.EMAIL}},
        )
        assert bad.status_code == 422
        assert self.EMAIL not in bad.text and self.NAME not in bad.text
        sealed = sealed_of(runtime, rid)
        set_sealed(runtime, rid, {**sealed, "phone": flip_byte(sealed["phone"])})
        assert read(client, vault_app, rid).status_code == 500
        logged = caplog.text + "\n".join(str(rec.args) for rec in caplog.records)
        assert caplog.records, "logging was not captured at all"
        audit = dump_tables(runtime, "audit_log")
        assert audit.count(rid) >= 3
        for value in (self.NAME, self.EMAIL, self.PHONE, self.PHONE.lstrip("+")):
            assert value not in logged
            assert value not in audit
