"""The hot record routes (write one record, read one record) run the whole request in one
trip through the threadpool (privacy.deps.Transaction). These tests hold them, through the
HTTP API, to the same rules as every other route: one transaction per request, the caller
re-read on every request (suspension and logout take effect at once), refusals as
problem+json, audited, and the per-principal rate limit."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid

import pytest
from sqlalchemy import event

from privacy.auth import tokens
from support.api import (
    FULL_APP_SCOPES,
    audit_rows,
    bearer,
    count_rows,
    new_subject,
    register_app,
    user_headers,
)

RECORDS = "/v1/collections/customers/records"


def _write(client, headers, sid: str):  # type: ignore[no-untyped-def]
    return client.post(RECORDS, headers=headers, json={"subject_id": sid, "data": {"name": "N"}})


def _read(client, headers, rid: str):  # type: ignore[no-untyped-def]
    return client.get(f"{RECORDS}/{rid}?purpose=support", headers=headers)


def _token(client, app: dict) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def _assert_problem(resp, status: int) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == status


class _Transactions:
    """BEGINs and COMMITs that request work makes (in the request threads; the
    service's background workers have threads of their own)."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine
        self.events: list[str] = []

    def _note(self, kind: str):  # type: ignore[no-untyped-def]
        def listener(*_args) -> None:  # type: ignore[no-untyped-def]
            if threading.current_thread().name.startswith(("AnyIO worker", "privacy-tx")):
                self.events.append(kind)

        return listener

    def __enter__(self) -> _Transactions:
        self._listeners = [("begin", self._note("begin")), ("commit", self._note("commit"))]
        for name, fn in self._listeners:
            event.listen(self.engine, name, fn)
        return self

    def __exit__(self, *_exc) -> None:  # type: ignore[no-untyped-def]
        for name, fn in self._listeners:
            event.remove(self.engine, name, fn)


class TestOneTransaction:
    def test_write_and_read_are_one_transaction_each(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        _write(client, vault_app, sid)  # warm: catalog cache, DEK cache
        with _Transactions(runtime.engine) as tx:
            r = _write(client, vault_app, sid)
        assert r.status_code == 201, r.text
        # The caller's lookup, the record, its audit entry: one BEGIN, one COMMIT.
        assert tx.events == ["begin", "commit"]
        with _Transactions(runtime.engine) as tx:
            assert _read(client, vault_app, r.json()["id"]).status_code == 200
        assert tx.events == ["begin", "commit"]

    def test_a_refused_read_is_rolled_back_and_its_refusal_audited(
        self, client, vault_app, runtime
    ):
        sid = new_subject(client, vault_app)
        rid = _write(client, vault_app, sid).json()["id"]
        before = count_rows(runtime, "audit_log")
        r = client.get(f"{RECORDS}/{rid}?purpose=no-such-purpose", headers=vault_app)
        assert r.status_code in (403, 404, 422), r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert count_rows(runtime, "audit_log") == before + 1
        assert audit_rows(runtime, outcome="denied")


class TestCallerCheckedOnEveryRequest:
    def test_suspended_app_is_refused_on_the_next_write_and_read(
        self, client, admin, vault_app, runtime
    ):
        app = register_app(client, admin, FULL_APP_SCOPES)
        headers = _token(client, app)
        sid = new_subject(client, headers)
        written = _write(client, headers, sid)
        assert written.status_code == 201, written.text
        rid = written.json()["id"]
        assert client.post(f"/v1/apps/{app['id']}/suspend", headers=admin).status_code == 200
        _assert_problem(_write(client, headers, sid), 401)
        _assert_problem(_read(client, headers, rid), 401)
        assert client.post(f"/v1/apps/{app['id']}/reactivate", headers=admin).status_code == 200
        assert _read(client, headers, rid).status_code == 200

    def test_logged_out_token_is_refused_at_once(self, client, admin, vault_app, runtime):
        headers = _token(client, register_app(client, admin, FULL_APP_SCOPES))
        sid = new_subject(client, headers)
        rid = _write(client, headers, sid).json()["id"]
        assert _read(client, headers, rid).status_code == 200
        assert client.post("/v1/auth/logout", headers=headers).status_code == 204
        _assert_problem(_read(client, headers, rid), 401)
        _assert_problem(_write(client, headers, sid), 401)
        assert count_rows(runtime, "records") == 1

    def test_a_token_used_before_is_refused_once_it_expires(
        self, client, admin, vault_app, runtime
    ):
        # Its signature was checked on first use and remembered; its expiry is not.
        app = register_app(client, admin, FULL_APP_SCOPES)
        sid = new_subject(client, vault_app)
        token = tokens.issue(
            runtime.token_key, kid="token-signing-v1", sub=app["client_id"], kind="app",
            roles=["app"], ttl=2,
        )  # fmt: skip
        exp = int(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"])
        assert _write(client, bearer(token), sid).status_code == 201
        while time.time() < exp:
            time.sleep(0.1)
        _assert_problem(_write(client, bearer(token), sid), 401)

    def test_no_token_is_401_even_with_a_bad_body(self, client, vault_app):
        r = client.post(RECORDS, json={"subject_id": "not-a-uuid"})
        _assert_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        _assert_problem(client.get(f"{RECORDS}/{uuid.uuid4()}"), 401)

    def test_a_garbled_token_is_401(self, client, vault_app):
        sid = new_subject(client, vault_app)
        _assert_problem(_write(client, bearer("not.a.token"), sid), 401)

    def test_a_staff_user_is_403_and_the_refusal_audited(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = _write(client, vault_app, sid).json()["id"]
        dpo = user_headers(client, runtime, "dpo")
        _assert_problem(_write(client, dpo, sid), 403)
        _assert_problem(_read(client, dpo, rid), 403)
        rows = audit_rows(runtime, action="authz.role")
        assert len(rows) == 2 and all(r["outcome"] == "denied" for r in rows)
        assert count_rows(runtime, "records") == 1


@pytest.mark.parametrize("route", ["write", "read"])
def test_the_per_app_rate_limit_applies_and_is_audited(client, admin, vault_app, runtime, route):
    sid = new_subject(client, vault_app)
    rid = _write(client, vault_app, sid).json()["id"]
    body = {"name": f"slow-{uuid.uuid4().hex[:6]}", "scopes": FULL_APP_SCOPES}
    r = client.post("/v1/apps", headers=admin, json={**body, "rate_limit": "2/minute"})
    assert r.status_code == 201, r.text
    headers = _token(client, r.json())
    call = (
        (lambda: _write(client, headers, sid))
        if route == "write"
        else (lambda: _read(client, headers, rid))
    )
    assert call().status_code in (200, 201)
    assert call().status_code in (200, 201)
    limited = call()
    _assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert len(audit_rows(runtime, action="security.rate_limit")) == 1
