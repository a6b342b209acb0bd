"""Access tokens, refresh families, logout and the deny-list, signing-key rotation."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
from sqlalchemy import event

from privacy.auth import keyring, refresh, tokens
from privacy.auth.models import RefreshToken, RevokedToken
from privacy.db import new_session, utcnow
from support.api import ADMIN_PASSWORD, audit_rows, bearer, count_rows, make_user


def _login(client, email):
    r = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _header(token: str) -> dict:
    return jwt.get_unverified_header(token)


class TestAccessToken:
    def test_carries_the_required_claims_and_a_pinned_kid(self, client, runtime):
        body = _login(client, make_user(runtime, roles=["dpo"]))
        claims = _claims(body["access_token"])
        for claim in ("jti", "sub", "roles", "iat", "exp"):
            assert claim in claims
        assert claims["roles"] == ["dpo"]
        assert claims["exp"] - claims["iat"] == runtime.settings.access_token_ttl
        assert _header(body["access_token"]) == {
            "alg": "HS256",
            "typ": "JWT",
            "kid": "token-signing-v1",
        }

    def test_every_token_has_its_own_jti(self, client, runtime):
        email = make_user(runtime, roles=["dpo"])
        assert (
            _claims(_login(client, email)["access_token"])["jti"]
            != _claims(_login(client, email)["access_token"])["jti"]
        )

    def test_expired_token_is_401(self, client, runtime):
        user_id = _claims(_login(client, make_user(runtime, roles=["admin"]))["access_token"])[
            "sub"
        ]
        expired = tokens.issue(
            runtime.token_key, kid="token-signing-v1", sub=user_id, kind="user",
            roles=["admin"], ttl=-10,
        )  # fmt: skip
        assert client.get("/v1/users", headers=bearer(expired)).status_code == 401
        fresh = tokens.issue(
            runtime.token_key, kid="token-signing-v1", sub=user_id, kind="user",
            roles=["admin"], ttl=60,
        )  # fmt: skip
        assert client.get("/v1/users", headers=bearer(fresh)).status_code == 200

    def test_unknown_kid_is_401(self, client, runtime):
        sub = _claims(_login(client, make_user(runtime, roles=["admin"]))["access_token"])["sub"]
        for kid in ("token-signing-v9", "blind-index-v1", "../etc"):
            forged = tokens.issue(
                runtime.token_key, kid=kid, sub=sub, kind="user", roles=["admin"], ttl=60
            )
            assert client.get("/v1/users", headers=bearer(forged)).status_code == 401

    def test_alg_none_is_401(self, client, runtime):
        token = _login(client, make_user(runtime, roles=["admin"]))["access_token"]
        _, payload, _ = token.split(".")
        head = base64.urlsafe_b64encode(
            json.dumps({"alg": "none", "typ": "JWT", "kid": "token-signing-v1"}).encode()
        )
        forged = f"{head.rstrip(b'=').decode()}.{payload}."
        assert client.get("/v1/users", headers=bearer(forged)).status_code == 401

    def test_hs256_signed_with_a_public_value_is_401(self, client, runtime):
        # Algorithm confusion: an attacker signs with a key they can see (here the
        # service's public receipt key) and hopes the verifier uses it as an HMAC secret.
        sub = _claims(_login(client, make_user(runtime, roles=["admin"]))["access_token"])["sub"]
        public = client.get("/v1/keys/public").text.encode()
        claims = {
            **_claims(
                tokens.issue(b"x" * 32, kid="k", sub=sub, kind="user", roles=["admin"], ttl=60)
            )
        }
        forged = jwt.encode(claims, public, algorithm="HS256", headers={"kid": "token-signing-v1"})
        assert client.get("/v1/users", headers=bearer(forged)).status_code == 401

    def test_other_algorithms_are_refused_before_any_key_lookup(self, runtime):
        claims = {"sub": "x", "jti": "j", "iat": 1, "exp": 2**40, "aud": "a", "iss": "i"}
        hs512 = jwt.encode(claims, runtime.token_key * 2, algorithm="HS512",
                           headers={"kid": "token-signing-v1"})  # fmt: skip
        try:
            tokens.verify(runtime.token_key, hs512, kid="token-signing-v1")
        except tokens.TokenError:
            pass
        else:
            raise AssertionError("an HS512 token was accepted")


class TestRefresh:
    def test_rotates_on_every_use_and_the_old_one_dies(self, client, runtime):
        first = _login(client, make_user(runtime, roles=["dpo"]))
        assert first["refresh_token"]
        second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200, second.text
        pair = second.json()
        assert pair["refresh_token"] != first["refresh_token"]
        assert client.get("/v1/purposes", headers=bearer(pair["access_token"])).status_code == 200
        third = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert third.status_code == 200

    def test_reuse_revokes_the_family_and_is_audited(self, client, runtime):
        first = _login(client, make_user(runtime, roles=["dpo"]))
        stolen = first["refresh_token"]
        good = client.post("/v1/auth/refresh", json={"refresh_token": stolen}).json()
        reused = client.post("/v1/auth/refresh", json={"refresh_token": stolen})
        assert reused.status_code == 401
        assert reused.headers["content-type"] == "application/problem+json"
        # The legitimate holder's newer token is dead too: the family is revoked.
        after = client.post("/v1/auth/refresh", json={"refresh_token": good["refresh_token"]})
        assert after.status_code == 401
        rows = audit_rows(runtime, action="security.refresh_reuse")
        assert len(rows) == 1 and rows[0]["outcome"] == "denied"
        assert stolen not in json.dumps(rows, default=str)
        metrics = client.get("/metrics").text
        assert 'privacy_auth_security_events_total{event="refresh_reuse"} 1.0' in metrics

    def test_stored_hashed_only(self, client, runtime):
        first = _login(client, make_user(runtime, roles=["dpo"]))
        with new_session(runtime.engine) as s:
            rows = s.exec(__import__("sqlmodel").select(RefreshToken)).all()
        assert rows and all(first["refresh_token"] not in r.token_hash for r in rows)
        assert rows[0].token_hash == refresh.token_hash(first["refresh_token"])

    def test_absolute_expiry_is_not_extended_by_rotation(self, client, runtime):
        first = _login(client, make_user(runtime, roles=["dpo"]))
        with new_session(runtime.engine) as s:
            row = s.get(RefreshToken, refresh.token_hash(first["refresh_token"]))
            end = row.expires_at
        assert abs((end - utcnow()).total_seconds() - 7 * 86400) < 120
        nxt = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        with new_session(runtime.engine) as s:
            row = s.get(RefreshToken, refresh.token_hash(nxt.json()["refresh_token"]))
            assert row.expires_at == end
            # Past the family's end, the token is refused.
            row.expires_at = utcnow() - timedelta(seconds=1)
            s.add(row)
            s.commit()
        late = client.post("/v1/auth/refresh", json={"refresh_token": nxt.json()["refresh_token"]})
        assert late.status_code == 401

    def test_unknown_token_is_401(self, client):
        r = client.post("/v1/auth/refresh", json={"refresh_token": "nope"})
        assert r.status_code == 401

    def test_suspended_user_cannot_refresh(self, client, admin, runtime):
        first = _login(client, make_user(runtime, roles=["dpo"]))
        uid = _claims(first["access_token"])["sub"]
        assert client.post(f"/v1/users/{uid}/suspend", headers=admin).status_code == 200
        r = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 401


class TestLogout:
    def test_kills_the_access_token_at_once_and_the_family(self, client, runtime):
        pair = _login(client, make_user(runtime, roles=["dpo"]))
        headers = bearer(pair["access_token"])
        assert client.get("/v1/purposes", headers=headers).status_code == 200
        assert client.post("/v1/auth/logout", headers=headers).status_code == 204
        assert client.get("/v1/purposes", headers=headers).status_code == 401
        r = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 401

    def test_other_tokens_of_the_user_keep_working(self, client, runtime):
        email = make_user(runtime, roles=["dpo"])
        a, b = _login(client, email), _login(client, email)
        assert client.post("/v1/auth/logout", headers=bearer(a["access_token"])).status_code == 204
        assert client.get("/v1/purposes", headers=bearer(b["access_token"])).status_code == 200

    def test_app_tokens_can_be_revoked_too(self, client, vault_app):
        assert client.post("/v1/auth/logout", headers=vault_app).status_code == 204
        assert client.get("/v1/collections", headers=vault_app).status_code == 401

    def test_purge_expired_removes_only_what_has_ended(self, client, runtime):
        pair = _login(client, make_user(runtime, roles=["dpo"]))
        client.post("/v1/auth/logout", headers=bearer(pair["access_token"]))
        assert count_rows(runtime, "revoked_tokens") == 1
        with new_session(runtime.engine) as s:
            assert refresh.purge_expired(s, utcnow()) == 0
            later = utcnow() + timedelta(days=8)
            removed = refresh.purge_expired(s, later)
            s.commit()
        assert removed == 2  # the deny-list entry and the refresh token
        assert count_rows(runtime, "revoked_tokens") == 0
        assert count_rows(runtime, "refresh_tokens") == 0


class TestPrincipalResolution:
    def test_one_query_per_request_including_the_deny_list(self, client, runtime):
        headers = bearer(_login(client, make_user(runtime, roles=["dpo"]))["access_token"])
        client.get("/v1/purposes", headers=headers)  # warm
        seen: list[str] = []

        def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            if "revoked_tokens" in statement or "FROM users" in statement:
                seen.append(statement)

        event.listen(runtime.engine, "before_cursor_execute", count)
        try:
            assert client.get("/v1/purposes", headers=headers).status_code == 200
        finally:
            event.remove(runtime.engine, "before_cursor_execute", count)
        assert len(seen) == 1, seen
        assert "revoked_tokens" in seen[0] and "users" in seen[0]

    def test_suspension_takes_effect_on_the_next_request(self, client, admin, runtime):
        pair = _login(client, make_user(runtime, roles=["dpo"]))
        headers = bearer(pair["access_token"])
        assert client.get("/v1/purposes", headers=headers).status_code == 200
        uid = _claims(pair["access_token"])["sub"]
        assert client.post(f"/v1/users/{uid}/suspend", headers=admin).status_code == 200
        assert client.get("/v1/purposes", headers=headers).status_code == 401
        assert client.post(f"/v1/users/{uid}/reactivate", headers=admin).status_code == 200
        assert client.get("/v1/purposes", headers=headers).status_code == 200


class TestKeyRotation:
    def test_new_kid_signs_and_the_previous_one_still_verifies(self, client, admin, runtime):
        email = make_user(runtime, roles=["dpo"])
        old = bearer(_login(client, email)["access_token"])
        r = client.post("/v1/keys/token-signing/rotate", headers=admin)
        assert r.status_code == 200, r.text
        assert r.json() == {"kid": "token-signing-v2"}
        new = _login(client, email)["access_token"]
        assert _header(new)["kid"] == "token-signing-v2"
        assert client.get("/v1/purposes", headers=bearer(new)).status_code == 200
        assert client.get("/v1/purposes", headers=old).status_code == 200
        # A second rotation retires v1: its tokens stop verifying.
        assert client.post("/v1/keys/token-signing/rotate", headers=admin).status_code == 200
        assert client.get("/v1/purposes", headers=old).status_code == 401
        assert client.get("/v1/purposes", headers=bearer(new)).status_code == 200

    def test_another_replica_picks_up_the_new_key(self, client, runtime):
        email = make_user(runtime, roles=["dpo"])
        kid = keyring.rotate(runtime.engine, runtime.transit,
                             vault_key=runtime.settings.service_key_name)  # fmt: skip
        # This process has not reloaded yet; a token with the new kid makes it look.
        keys = keyring.for_runtime(runtime)
        keys._loaded_at = time.monotonic() - keyring.UNKNOWN_KID_RELOAD_SECONDS - 1
        with new_session(runtime.engine) as s:
            key = keys.verifying(s, kid)
        assert key is not None and key != runtime.token_key
        sub = _claims(_login(client, email)["access_token"])["sub"]
        forged = tokens.issue(key, kid=kid, sub=sub, kind="user", roles=["dpo"], ttl=60)
        assert client.get("/v1/purposes", headers=bearer(forged)).status_code == 200


def test_revoked_token_model_is_the_deny_list(runtime):
    assert RevokedToken.__tablename__ == "revoked_tokens"


def test_purge_expired_covers_sessions_and_ip_blocks(client, runtime):
    from privacy.auth import sessions
    from privacy.auth.models import User
    from privacy.security import blocks

    make_user(runtime, roles=["dpo"])
    with new_session(runtime.engine) as s:
        user = s.exec(__import__("sqlmodel").select(User)).first()
        sessions.create(s, runtime, user, mfa=False)
        blocks.block(s, "192.0.2.9", reason="test", seconds=60)
        s.commit()
    with new_session(runtime.engine) as s:
        assert refresh.purge_expired(s, utcnow()) == 0
        # Idle for a day: gone when the idle timeout is given, though its absolute end is later.
        idle = refresh.purge_expired(s, utcnow() + timedelta(hours=25), session_idle_timeout=86400)
        s.commit()
    assert idle == 2  # the idle session and the IP block (its hour is over)
    assert count_rows(runtime, "browser_sessions") == 0
    assert count_rows(runtime, "ip_blocks") == 0


def test_cli_rotates_the_token_key(dev_vault, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    import pytest

    # The interpreter's own script first: another `privacy` on PATH may be an older install.
    sibling = Path(sys.executable).parent / "privacy"
    found = str(sibling) if sibling.exists() else (shutil.which("privacy") or str(sibling))
    if not Path(found).exists():
        pytest.skip("the privacy console script is not installed (pip install -e .)")
    suffix = uuid.uuid4().hex[:8]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")},
        "PRIVACY_DATA_DIR": str(tmp_path),
        "PRIVACY_VAULT_ADDR": dev_vault.addr,
        "PRIVACY_VAULT_TOKEN": dev_vault.token,
        "PRIVACY_KEK_NAME": f"kek-{suffix}",
        "PRIVACY_SERVICE_KEY_NAME": f"svc-{suffix}",
    }
    for expected in ("token-signing-v2", "token-signing-v3"):
        r = subprocess.run(
            [found, "keys", "rotate-token-key"], env=env, capture_output=True, text=True,
            timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert expected in r.stderr
