"""TOTP enrolment and enforcement for the roles that require it, recovery codes, replay."""

from __future__ import annotations

import dataclasses
import time

import pyotp
import pytest
from fastapi.testclient import TestClient

from privacy.app import create_app
from privacy.config import Settings
from support.api import ADMIN_PASSWORD, audit_rows, bearer, dump_tables, make_user


@pytest.fixture
def mfa_client(runtime):
    settings = runtime.settings.model_copy(update={"mfa_required_roles": "admin,dpo"})
    rt = dataclasses.replace(runtime, settings=settings)
    with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as c:
        yield c, rt


def _login(client, email, totp=None):
    body = {"email": email, "password": ADMIN_PASSWORD}
    if totp is not None:
        body["totp"] = totp
    return client.post("/v1/auth/login", json=body)


def _code(secret: str, steps_ahead: int) -> str:
    return pyotp.TOTP(secret).at(time.time(), counter_offset=steps_ahead)


def _enrol(client, headers):
    started = client.post("/v1/auth/mfa/totp", headers=headers)
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    confirmed = client.post(
        "/v1/auth/mfa/totp/confirm", headers=headers, json={"code": _code(secret, 0)}
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def test_default_roles_are_admin_and_dpo():
    assert Settings.model_fields["mfa_required_roles"].default == "admin,dpo"


class TestEnforcement:
    @pytest.mark.parametrize("role", ["admin", "dpo"])
    def test_until_enrolled_the_token_can_only_enrol(self, mfa_client, role):
        client, rt = mfa_client
        headers = bearer(_login(client, make_user(rt, roles=[role])).json()["access_token"])
        r = client.get("/v1/purposes", headers=headers)
        assert r.status_code == 403
        assert "/v1/auth/mfa/totp" in r.json()["detail"]
        assert audit_rows(rt, action="authz.mfa", outcome="denied")
        assert client.post("/v1/auth/mfa/totp", headers=headers).status_code == 200

    def test_other_roles_need_no_mfa(self, mfa_client):
        client, rt = mfa_client
        headers = bearer(_login(client, make_user(rt, roles=["auditor"])).json()["access_token"])
        assert client.get("/v1/purposes", headers=headers).status_code == 200

    def test_full_flow(self, mfa_client):
        client, rt = mfa_client
        email = make_user(rt, roles=["admin"])
        pre = bearer(_login(client, email).json()["access_token"])
        started = client.post("/v1/auth/mfa/totp", headers=pre).json()
        assert started["otpauth_uri"].startswith("otpauth://totp/")
        assert "issuer=Privacy%20Vault" in started["otpauth_uri"]
        secret = started["secret"]
        wrong = client.post("/v1/auth/mfa/totp/confirm", headers=pre, json={"code": "000000"})
        assert wrong.status_code == 422 or _code(secret, 0) == "000000"
        ok = client.post("/v1/auth/mfa/totp/confirm", headers=pre, json={"code": _code(secret, 0)})
        assert ok.status_code == 200, ok.text
        codes = ok.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        # The password-only token stays enrol-only: sign in again with a code.
        assert client.get("/v1/users", headers=pre).status_code == 403
        missing = _login(client, email)
        assert missing.status_code == 401 and missing.json()["mfa_required"] is True
        code = _code(secret, 1)
        full = _login(client, email, totp=code)
        assert full.status_code == 200, full.text
        assert (
            client.get("/v1/users", headers=bearer(full.json()["access_token"])).status_code == 200
        )
        # A refreshed token keeps the second factor.
        nxt = client.post("/v1/auth/refresh", json={"refresh_token": full.json()["refresh_token"]})
        assert (
            client.get("/v1/users", headers=bearer(nxt.json()["access_token"])).status_code == 200
        )
        # The same code again, within its window: refused.
        replay = _login(client, email, totp=code)
        assert replay.status_code == 401
        assert replay.json()["detail"] == "wrong TOTP or recovery code"

    def test_recovery_codes_work_once(self, mfa_client):
        client, rt = mfa_client
        email = make_user(rt, roles=["dpo"])
        _, codes = _enrol(client, bearer(_login(client, email).json()["access_token"]))
        assert _login(client, email, totp=codes[0]).status_code == 200
        assert _login(client, email, totp=codes[0]).status_code == 401
        assert _login(client, email, totp=codes[1].upper()).status_code == 200
        assert _login(client, email, totp="abcde-12345").status_code == 401

    def test_wrong_codes_count_towards_the_lockout(self, mfa_client):
        client, rt = mfa_client
        email = make_user(rt, roles=["dpo"])
        _enrol(client, bearer(_login(client, email).json()["access_token"]))
        for _ in range(5):
            assert _login(client, email, totp="aaaaa-bbbbb").status_code == 401
        assert _login(client, email, totp="ccccc-ddddd").status_code == 429

    def test_enrolling_twice_is_409(self, mfa_client):
        client, rt = mfa_client
        email = make_user(rt, roles=["auditor"])
        headers = bearer(_login(client, email).json()["access_token"])
        _enrol(client, headers)
        assert client.post("/v1/auth/mfa/totp", headers=headers).status_code == 409

    def test_confirm_before_start_is_409(self, mfa_client):
        client, rt = mfa_client
        headers = bearer(_login(client, make_user(rt, roles=["auditor"])).json()["access_token"])
        r = client.post("/v1/auth/mfa/totp/confirm", headers=headers, json={"code": "123456"})
        assert r.status_code == 409

    def test_apps_cannot_enrol(self, client, vault_app):
        assert client.post("/v1/auth/mfa/totp", headers=vault_app).status_code == 403


class TestAtRest:
    def test_secret_sealed_and_recovery_codes_hashed(self, mfa_client):
        client, rt = mfa_client
        email = make_user(rt, roles=["auditor"])
        secret, codes = _enrol(client, bearer(_login(client, email).json()["access_token"]))
        stored = dump_tables(rt, "users", "mfa_recovery_codes", "audit_log")
        assert secret not in stored
        for code in codes:
            assert code not in stored and code.replace("-", "") not in stored
