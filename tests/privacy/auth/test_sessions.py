"""Browser sessions: server-side, `__Host-` cookie, idle and absolute expiry, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from privacy.app import create_app
from privacy.auth.models import BrowserSession
from privacy.auth.sessions import COOKIE
from privacy.db import utcnow
from support.api import ADMIN_PASSWORD, audit_rows, bearer, count_rows, dump_tables, make_user

COLLECTION = {"fields": [{"name": "item", "type": "string", "category": "profile"}]}


@pytest.fixture
def browser(runtime):
    # Secure cookies travel over HTTPS only, as a browser would do.
    with TestClient(
        create_app(runtime=runtime), base_url="https://testserver", raise_server_exceptions=False
    ) as c:
        yield c


def _sign_in(client, runtime, role="dpo"):
    email = make_user(runtime, roles=[role])
    r = client.post("/v1/auth/session", json={"email": email, "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    return r


def _age(runtime, **values):
    with runtime.engine.begin() as conn:
        conn.execute(update(BrowserSession.__table__).values(**values))


class TestCookie:
    def test_cookie_attributes(self, browser, runtime):
        r = _sign_in(browser, runtime)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite", "path", "max-age"} <= attrs
        assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        assert "domain" not in attrs  # __Host- cookies must not name a domain
        assert r.json()["csrf_token"]

    def test_cookie_authenticates_reads(self, browser, runtime):
        _sign_in(browser, runtime)
        assert browser.get("/v1/purposes").status_code == 200
        browser.cookies.clear()
        assert browser.get("/v1/purposes").status_code == 401

    def test_stored_hashed(self, browser, runtime):
        r = _sign_in(browser, runtime)
        sid = browser.cookies.get(COOKIE)
        stored = dump_tables(runtime, "browser_sessions")
        assert sid and sid not in stored and r.json()["csrf_token"] not in stored

    def test_wrong_password_sets_no_cookie(self, browser, runtime):
        email = make_user(runtime, roles=["dpo"])
        r = browser.post("/v1/auth/session", json={"email": email, "password": "Nope-nope-1!"})
        assert r.status_code == 401 and "set-cookie" not in r.headers


class TestCsrf:
    def test_state_changing_requests_need_the_token(self, browser, runtime):
        csrf = _sign_in(browser, runtime, "admin").json()["csrf_token"]
        missing = browser.put("/v1/collections/c1", json=COLLECTION)
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["detail"]
        wrong = browser.put(
            "/v1/collections/c1", json=COLLECTION, headers={"X-CSRF-Token": "x" * 43}
        )
        assert wrong.status_code == 403
        ok = browser.put("/v1/collections/c1", json=COLLECTION, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201, ok.text

    def test_a_refused_request_is_audited_against_the_session_user(self, browser, runtime):
        _sign_in(browser, runtime, "admin")
        r = browser.put("/v1/collections/c3", json=COLLECTION, headers={"X-Request-ID": "csrf-1"})
        assert r.status_code == 403
        rows = audit_rows(runtime, action="security.csrf")
        assert len(rows) == 1
        row = rows[0]
        assert row["outcome"] == "denied" and row["request_id"] == "csrf-1"
        assert row["actor"].startswith("user:")
        assert count_rows(runtime, "collections") == 0  # nothing was written

    def test_another_sessions_token_does_not_work(self, browser, runtime):
        other = _sign_in(browser, runtime, "admin").json()["csrf_token"]
        _sign_in(browser, runtime, "admin")  # the cookie jar now holds the second session
        r = browser.put("/v1/collections/c2", json=COLLECTION, headers={"X-CSRF-Token": other})
        assert r.status_code == 403

    def test_bearer_requests_need_no_csrf_token(self, browser, runtime):
        _sign_in(browser, runtime)
        email = make_user(runtime, roles=["admin"])
        tok = browser.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        headers = bearer(tok.json()["access_token"])
        r = browser.put("/v1/collections/c3", json=COLLECTION, headers=headers)
        assert r.status_code == 201


class TestExpiry:
    def test_idle_session_ends(self, browser, runtime):
        _sign_in(browser, runtime)
        idle = runtime.settings.session_idle_timeout
        _age(runtime, last_seen_at=utcnow() - timedelta(seconds=idle + 1))
        assert browser.get("/v1/purposes").status_code == 401

    def test_use_keeps_it_alive(self, browser, runtime):
        _sign_in(browser, runtime)
        idle = runtime.settings.session_idle_timeout
        _age(runtime, last_seen_at=utcnow() - timedelta(seconds=idle - 30))
        assert browser.get("/v1/purposes").status_code == 200
        # The request moved last_seen_at forward: still alive past the old deadline.
        from sqlmodel import select

        from privacy.db import new_session

        with new_session(runtime.engine) as s:
            seen = s.exec(select(BrowserSession.last_seen_at)).one()
        assert (utcnow() - seen).total_seconds() < 60

    def test_absolute_lifetime_ends_it_however_active(self, browser, runtime):
        _sign_in(browser, runtime)
        _age(runtime, expires_at=utcnow() - timedelta(seconds=1))
        assert browser.get("/v1/purposes").status_code == 401

    def test_defaults(self, runtime):
        from privacy.config import Settings

        assert Settings.model_fields["session_idle_timeout"].default == 24 * 3600
        assert Settings.model_fields["session_max_age"].default == 7 * 24 * 3600


class TestSignOut:
    def test_delete_ends_the_session(self, browser, runtime):
        csrf = _sign_in(browser, runtime).json()["csrf_token"]
        assert browser.delete("/v1/auth/session").status_code == 403  # CSRF applies here too
        r = browser.delete("/v1/auth/session", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204
        assert (
            f"{COOKIE}=" in r.headers["set-cookie"]
            and "max-age=0" in r.headers["set-cookie"].lower()
        )
        assert count_rows(runtime, "browser_sessions") == 0
        assert browser.get("/v1/purposes").status_code == 401

    def test_suspension_ends_sessions(self, browser, runtime):
        _sign_in(browser, runtime)
        assert count_rows(runtime, "browser_sessions") == 1
        admin_email = make_user(runtime, roles=["admin"])
        tok = browser.post(
            "/v1/auth/login", json={"email": admin_email, "password": ADMIN_PASSWORD}
        )
        admin = bearer(tok.json()["access_token"])
        users = browser.get("/v1/users", headers=admin).json()["items"]
        dpo = next(u["id"] for u in users if "dpo" in u["roles"])
        assert browser.post(f"/v1/users/{dpo}/suspend", headers=admin).status_code == 200
        assert count_rows(runtime, "browser_sessions") == 0
        assert browser.get("/v1/purposes").status_code == 401
