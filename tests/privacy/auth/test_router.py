"""Who may call what: logins, client credentials, tokens and role checks, through HTTP."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import update

from privacy.auth.models import App, User
from support.api import (
    ADMIN_PASSWORD,
    app_headers,
    audit_rows,
    bearer,
    count_rows,
    make_user,
    register_app,
    user_headers,
)


def token_for(client, app: dict, *, as_json: bool = False, secret: str | None = None):
    body = {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": secret or app["client_secret"],
    }
    if as_json:
        return client.post("/v1/auth/token", json=body)
    return client.post("/v1/auth/token", data=body)


def assert_unauthorized(resp) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["status"] == 401


class TestLogin:
    def test_right_password_gives_a_bearer_token(self, client, runtime):
        email = make_user(runtime, roles=["dpo"])
        r = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == runtime.settings.access_token_ttl
        assert client.get("/v1/purposes", headers=bearer(body["access_token"])).status_code == 200

    def test_wrong_password_is_401_and_audited(self, client, runtime):
        email = make_user(runtime, roles=["admin"])
        r = client.post("/v1/auth/login", json={"email": email, "password": "Wrong-pass-1!"})
        assert_unauthorized(r)
        assert "Wrong-pass-1!" not in r.text
        denied = audit_rows(runtime, action="auth.login", outcome="denied")
        assert len(denied) == 1
        assert denied[0]["request_id"] == r.headers["x-request-id"]

    def test_unknown_email_looks_like_a_wrong_password(self, client, runtime):
        r = client.post(
            "/v1/auth/login", json={"email": "nobody@example.org", "password": ADMIN_PASSWORD}
        )
        assert_unauthorized(r)
        assert r.json()["detail"] == "wrong e-mail address or password"

    def test_deactivated_user_cannot_log_in(self, client, runtime):
        email = make_user(runtime, roles=["admin"])
        with runtime.engine.begin() as conn:
            conn.execute(
                update(User.__table__).where(User.__table__.c.email == email), {"is_active": False}
            )
        assert_unauthorized(
            client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        )


class TestClientCredentials:
    def test_form_body_gives_a_token_with_the_app_scopes(self, client, admin):
        app = register_app(client, admin, ["subjects:read", "purpose:support"])
        r = token_for(client, app)
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        assert set(r.json()["scope"].split()) == {"subjects:read", "purpose:support"}

    def test_json_body_gives_a_token(self, client, admin):
        app = register_app(client, admin, ["subjects:read"])
        r = token_for(client, app, as_json=True)
        assert r.status_code == 200, r.text
        headers = bearer(r.json()["access_token"])
        assert client.get("/v1/subjects?external_id=x", headers=headers).status_code == 200

    def test_wrong_secret_is_401_and_audited(self, client, admin, runtime):
        app = register_app(client, admin, ["subjects:read"])
        r = token_for(client, app, secret="not-the-secret")
        assert_unauthorized(r)
        assert audit_rows(runtime, action="auth.token", outcome="denied")

    def test_unknown_client_is_401(self, client):
        r = token_for(client, {"client_id": "app_nope", "client_secret": "s"})
        assert_unauthorized(r)

    def test_wrong_grant_type_is_422(self, client, admin):
        app = register_app(client, admin, [])
        r = client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "client_id": app["client_id"], "client_secret": "x"},
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"

    def test_other_content_type_is_a_problem(self, client):
        r = client.post(
            "/v1/auth/token", content=b"grant_type", headers={"content-type": "text/plain"}
        )
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"

    def test_secret_is_shown_once_and_not_stored(self, client, admin, runtime):
        app = register_app(client, admin, [])
        listed = client.get("/v1/apps", headers=admin)
        assert listed.status_code == 200
        assert app["client_secret"] not in listed.text
        with runtime.engine.connect() as conn:
            row = conn.execute(App.__table__.select()).mappings().one()
        assert app["client_secret"] not in json.dumps({k: str(v) for k, v in row.items()})

    def test_suspended_app_token_stops_working(self, client, admin, runtime):
        app = register_app(client, admin, ["subjects:read"])
        headers = bearer(token_for(client, app).json()["access_token"])
        assert client.get("/v1/subjects?external_id=x", headers=headers).status_code == 200
        with runtime.engine.begin() as conn:
            conn.execute(
                update(App.__table__).where(App.__table__.c.client_id == app["client_id"]),
                {"is_active": False},
            )
        assert_unauthorized(client.get("/v1/subjects?external_id=x", headers=headers))
        assert_unauthorized(token_for(client, app))


class TestBearerTokens:
    def test_no_token_is_401_with_www_authenticate(self, client):
        assert_unauthorized(client.get("/v1/purposes"))

    def test_other_scheme_is_401(self, client):
        assert_unauthorized(client.get("/v1/purposes", headers={"Authorization": "Basic eDp5"}))

    def test_tampered_token_is_401(self, client, admin):
        token = admin["Authorization"].removeprefix("Bearer ")
        header, payload, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["roles"] = ["admin", "dpo", "auditor"]
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assert_unauthorized(client.get("/v1/users", headers=bearer(f"{header}.{forged}.{sig}")))
        flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        assert_unauthorized(
            client.get("/v1/users", headers=bearer(f"{header}.{payload}.{flipped}"))
        )

    def test_unsigned_token_is_401(self, client, admin):
        token = admin["Authorization"].removeprefix("Bearer ")
        _, payload, _ = token.split(".")
        none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"token-signing-v1"}')
        forged = f"{none.rstrip(b'=').decode()}.{payload}."
        assert_unauthorized(client.get("/v1/users", headers=bearer(forged)))

    def test_garbage_token_is_401(self, client):
        assert_unauthorized(client.get("/v1/purposes", headers=bearer("not.a.jwt")))


class TestRoles:
    def test_app_token_cannot_register_apps(self, client, admin, runtime):
        app = app_headers(client, admin, ["subjects:read", "subjects:write", "records:*:*"])
        r = client.post("/v1/apps", headers=app, json={"name": "sneaky", "scopes": ["purpose:*"]})
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert count_rows(runtime, "apps") == 1
        assert audit_rows(runtime, action="authz.role", outcome="denied")

    def test_dpo_cannot_change_collections(self, client, runtime):
        dpo = user_headers(client, runtime, "dpo")
        r = client.put(
            "/v1/collections/customers",
            headers=dpo,
            json={"fields": [{"name": "name", "type": "string", "category": "identity"}]},
        )
        assert r.status_code == 403
        assert count_rows(runtime, "collections") == 0

    @pytest.mark.parametrize("role", ["dpo", "auditor"])
    def test_non_admin_users_cannot_create_users(self, client, runtime, role):
        headers = user_headers(client, runtime, role)
        r = client.post(
            "/v1/users",
            headers=headers,
            json={"email": "x@example.org", "password": ADMIN_PASSWORD, "roles": ["admin"]},
        )
        assert r.status_code == 403

    def test_auditor_cannot_write_subjects(self, client, runtime):
        auditor = user_headers(client, runtime, "auditor")
        r = client.post("/v1/subjects", headers=auditor, json={"external_id": "e"})
        assert r.status_code == 403


class TestUsers:
    def test_admin_creates_a_user_who_can_log_in(self, client, admin):
        r = client.post(
            "/v1/users",
            headers=admin,
            json={"email": "New.Dpo@Example.org", "password": "Str0ng!pass", "roles": ["dpo"]},
        )
        assert r.status_code == 201, r.text
        assert r.json()["roles"] == ["dpo"]
        assert "password" not in r.text and "Str0ng!pass" not in r.text
        login = client.post(
            "/v1/auth/login", json={"email": "new.dpo@example.org", "password": "Str0ng!pass"}
        )
        assert login.status_code == 200

    def test_weak_password_is_422_naming_the_rules(self, client, admin, runtime):
        before = count_rows(runtime, "users")
        r = client.post(
            "/v1/users",
            headers=admin,
            json={"email": "weak@example.org", "password": "short", "roles": ["dpo"]},
        )
        assert r.status_code == 422
        detail = r.json()["detail"]
        for rule in ("at least 8 characters", "an upper-case letter", "a digit", "a special"):
            assert rule in detail
        assert "a lower-case letter" not in detail
        assert "short" not in detail
        assert count_rows(runtime, "users") == before

    def test_duplicate_email_is_409(self, client, admin, runtime):
        email = make_user(runtime, roles=["dpo"])
        r = client.post(
            "/v1/users",
            headers=admin,
            json={"email": email.upper(), "password": ADMIN_PASSWORD, "roles": ["dpo"]},
        )
        assert r.status_code == 409

    def test_unknown_role_is_422(self, client, admin):
        r = client.post(
            "/v1/users",
            headers=admin,
            json={"email": "r@example.org", "password": ADMIN_PASSWORD, "roles": ["root"]},
        )
        assert r.status_code == 422


class TestApps:
    def test_invalid_scope_is_422(self, client, admin):
        r = client.post("/v1/apps", headers=admin, json={"name": "x", "scopes": ["everything"]})
        assert r.status_code == 422
        assert "scopes" in r.json()["detail"]

    def test_duplicate_name_is_409(self, client, admin):
        register_app(client, admin, [], name="crm")
        r = client.post("/v1/apps", headers=admin, json={"name": "crm", "scopes": []})
        assert r.status_code == 409


class TestAppLifecycle:
    def test_secret_rotation_shows_the_new_secret_once_and_kills_the_old(
        self, client, admin, runtime
    ):
        app = register_app(client, admin, ["collections:read"])
        r = client.post(f"/v1/apps/{app['id']}/secret", headers=admin)
        assert r.status_code == 200, r.text
        new_secret = r.json()["client_secret"]
        assert new_secret != app["client_secret"] and r.json()["secret_rotated_at"]
        assert_unauthorized(token_for(client, app))
        assert token_for(client, app, secret=new_secret).status_code == 200
        assert new_secret not in client.get("/v1/apps", headers=admin).text
        assert audit_rows(runtime, action="app.secret_rotate")

    def test_suspend_and_reactivate_an_app(self, client, admin, runtime):
        app = register_app(client, admin, ["collections:read"])
        headers = bearer(token_for(client, app).json()["access_token"])
        assert client.get("/v1/collections", headers=headers).status_code == 200
        r = client.post(f"/v1/apps/{app['id']}/suspend", headers=admin)
        assert r.status_code == 200 and r.json()["is_active"] is False
        assert_unauthorized(client.get("/v1/collections", headers=headers))
        assert_unauthorized(token_for(client, app))
        assert client.post(f"/v1/apps/{app['id']}/reactivate", headers=admin).status_code == 200
        assert client.get("/v1/collections", headers=headers).status_code == 200
        assert audit_rows(runtime, action="app.suspend") and audit_rows(
            runtime, action="app.reactivate"
        )

    def test_unknown_app_is_404(self, client, admin):
        r = client.post("/v1/apps/00000000-0000-0000-0000-000000000000/suspend", headers=admin)
        assert r.status_code == 404

    def test_suspended_user_loses_refresh_and_login(self, client, admin, runtime):
        email = make_user(runtime, roles=["dpo"])
        r = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        uid = client.get("/v1/users", headers=admin).json()["items"]
        uid = next(u["id"] for u in uid if u["email"] == email)
        assert client.post(f"/v1/users/{uid}/suspend", headers=admin).status_code == 200
        refresh = client.post("/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
        assert refresh.status_code == 401
        again = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        assert again.status_code == 401
        assert client.post(f"/v1/users/{uid}/reactivate", headers=admin).status_code == 200
        again = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        assert again.status_code == 200
