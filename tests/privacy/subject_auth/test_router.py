"""Subject sign-in with mailed one-time codes, through HTTP, with a real SMTP server.
Real OpenBao, real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from support.api import audit_rows, count_rows, dump_tables, new_subject, put_consent
from support.mailbox import subject_headers

START = "/v1/subject-auth/start"
VERIFY = "/v1/subject-auth/verify"


@pytest.fixture
def app(client, admin):
    from support.api import CONSENT_APP_SCOPES, app_headers, setup_consent_purposes, setup_customers

    setup_customers(client, admin)
    setup_consent_purposes(client, admin)
    return app_headers(client, admin, CONSENT_APP_SCOPES)


def _address() -> str:
    return f"ada-{uuid.uuid4().hex[:6]}@example.org"


def _verify(client, address, code):
    return client.post(VERIFY, json={"email": address, "code": code})


def _start(client, address):
    r = client.post(START, json={"email": address})
    assert r.status_code == 202, r.text
    return r


class TestStart:
    def test_known_and_unknown_addresses_get_the_same_answer_and_only_known_get_mail(
        self, client, app, mailbox, runtime
    ):
        known, unknown = _address(), _address()
        new_subject(client, app, email=known)
        a, b = _start(client, known), _start(client, unknown)
        assert a.json() == b.json()
        assert len(mailbox.to(known)) == 1 and mailbox.to(unknown) == []
        # The same work is done for both: a code row each (only hashes, no address).
        assert count_rows(runtime, "subject_signin_codes") == 2
        dump = dump_tables(runtime, "subject_signin_codes", "audit_log")
        assert known not in dump and unknown not in dump
        assert mailbox.last_code(known) not in dump_tables(runtime, "subject_signin_codes")

    def test_the_address_is_matched_case_insensitively(self, client, app, mailbox):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address.upper())
        assert len(mailbox.messages) == 1

    def test_invalid_address_is_a_validation_problem(self, client):
        r = client.post(START, json={"email": "not an address"})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")

    def test_codes_per_address_are_limited_per_hour(self, client, app, mailbox):
        address = _address()
        new_subject(client, app, email=address)
        for _ in range(6):
            _start(client, address)
        assert len(mailbox.to(address)) == 5
        assert audit_rows(client.app.state.runtime, reason="rate_limited")


class TestVerify:
    def test_code_gives_a_subject_token_for_own_data_only(self, client, app, mailbox):
        address = _address()
        sid = new_subject(client, app, email=address)
        other = new_subject(client, app, email=_address())
        _start(client, address)
        r = _verify(client, address, mailbox.last_code(address))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 900
        assert body["scope"] == f"subject:{sid}"
        me = {"Authorization": f"Bearer {body['access_token']}"}
        # Existing subject endpoints accept the token for its own subject only.
        assert client.get(f"/v1/subjects/{sid}/consents", headers=me).status_code == 200
        assert client.get(f"/v1/subjects/{other}/consents", headers=me).status_code == 403
        r = put_consent(client, me, sid)
        assert r.status_code == 200, r.text
        assert r.json()["event"]["source"] == "privacy_center"
        log = client.get(f"/v1/subjects/{sid}/access-log", headers=me)
        assert log.status_code == 200, log.text
        assert "subject_auth.verify" in {i["action"] for i in log.json()["items"]}
        assert client.get(f"/v1/subjects/{other}/access-log", headers=me).status_code == 403
        # ... and nothing meant for apps or staff.
        assert client.get(f"/v1/subjects/{sid}", headers=me).status_code == 403
        assert client.get("/v1/audit", headers=me).status_code == 403

    def test_one_address_shared_by_two_subjects_gets_both(self, client, app, mailbox):
        address = _address()
        a, b = new_subject(client, app, email=address), new_subject(client, app, email=address)
        _start(client, address)
        body = _verify(client, address, mailbox.last_code(address)).json()
        assert set(body["scope"].split()) == {f"subject:{a}", f"subject:{b}"}

    def test_wrong_code_is_refused_and_audited_then_the_right_one_works(
        self, client, app, mailbox, runtime
    ):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        code = mailbox.last_code(address)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        r = _verify(client, address, wrong)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert audit_rows(runtime, action="subject_auth.verify", reason="wrong_code")
        assert _verify(client, address, code).status_code == 200

    def test_expired_code_is_refused(self, client, app, mailbox, runtime):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        with runtime.engine.begin() as conn:
            conn.execute(
                text("UPDATE subject_signin_codes SET expires_at = :t"),
                {"t": "2000-01-01 00:00:00+00:00"},
            )
        assert _verify(client, address, mailbox.last_code(address)).status_code == 401
        assert audit_rows(runtime, action="subject_auth.verify", reason="no_live_code")

    def test_a_code_works_once(self, client, app, mailbox):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        code = mailbox.last_code(address)
        assert _verify(client, address, code).status_code == 200
        assert _verify(client, address, code).status_code == 401

    def test_a_newer_code_supersedes_the_older(self, client, app, mailbox):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        first = mailbox.last_code(address)
        _start(client, address)
        second = mailbox.last_code(address)
        if first != second:
            assert _verify(client, address, first).status_code == 401
        assert _verify(client, address, second).status_code == 200

    def test_five_wrong_tries_lock_the_code(self, client, app, mailbox, runtime):
        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        code = mailbox.last_code(address)
        wrong = f"{(int(code) + 7) % 1_000_000:06d}"
        for _ in range(5):
            assert _verify(client, address, wrong).status_code == 401
        r = _verify(client, address, code)
        assert r.status_code == 401
        assert "too many" in r.json()["detail"]
        assert audit_rows(runtime, action="subject_auth.verify", reason="locked")

    def test_unknown_address_never_gets_a_token(self, client, app, runtime):
        address = _address()
        _start(client, address)
        # No mail went out; even the stored code's owner could not use it without a subject.
        for code in ("000000", "123456"):
            assert _verify(client, address, code).status_code == 401

    def test_malformed_code_is_a_validation_problem(self, client):
        r = client.post(VERIFY, json={"email": _address(), "code": "12345"})
        assert r.status_code == 422

    def test_an_ended_subject_session_is_refused(self, client, app, mailbox, runtime):
        address = _address()
        sid = new_subject(client, app, email=address)
        me = subject_headers(client, mailbox, address)
        with runtime.engine.begin() as conn:
            conn.execute(
                text("UPDATE subject_sessions SET expires_at = :t"),
                {"t": "2000-01-01 00:00:00+00:00"},
            )
        assert client.get(f"/v1/subjects/{sid}/consents", headers=me).status_code == 401


class TestConcurrentGuessing:
    def test_concurrent_wrong_codes_cannot_exceed_five_tries(self, client, app, mailbox, runtime):
        from concurrent.futures import ThreadPoolExecutor

        address = _address()
        new_subject(client, app, email=address)
        _start(client, address)
        code = mailbox.last_code(address)
        guesses = [f"{(int(code) + k) % 1_000_000:06d}" for k in range(1, 13)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda g: _verify(client, address, g).status_code, guesses))
        assert statuses == [401] * 12
        refused = audit_rows(runtime, action="subject_auth.verify", outcome="denied")
        assert sorted(r["reason"] for r in refused) == ["locked"] * 7 + ["wrong_code"] * 5
        assert _verify(client, address, code).status_code == 401
