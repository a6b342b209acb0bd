"""Login lock-out, API rate limits, IP blocks and trusted proxies, through HTTP."""

from __future__ import annotations

import os
import uuid

import pytest

from support.api import ADMIN_PASSWORD, audit_rows, bearer, login, make_user, register_app


def from_ip(ip: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers of a request the trusted proxy (the test client's peer) forwarded for `ip`."""
    return {**(headers or {}), "X-Forwarded-For": ip}


def _fail(client, email, ip="198.51.100.1"):
    return client.post(
        "/v1/auth/login",
        json={"email": email, "password": "Wrong-Pass-99!"},
        headers=from_ip(ip),
    )


def _ok(client, email, ip="198.51.100.1"):
    return client.post(
        "/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD}, headers=from_ip(ip)
    )


def _assert_429(resp) -> int:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    retry = int(resp.headers["retry-after"])
    assert retry >= 1
    return retry


def _metric(client, event: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'privacy_auth_security_events_total{{event="{event}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no counter for {event}")


class TestLoginLimit:
    def test_five_failures_lock_the_account_even_for_the_right_password(self, make_client):
        client, rt = make_client()
        email = make_user(rt, roles=["dpo"])
        for i in range(5):
            # From different addresses: the per-account limit is what trips.
            assert _fail(client, email, ip=f"198.51.100.{10 + i}").status_code == 401
        retry = _assert_429(_ok(client, email, ip="198.51.100.99"))
        assert retry <= 15 * 60
        assert len(audit_rows(rt, action="security.lockout")) == 1
        assert _metric(client, "lockout") == 1
        assert _metric(client, "login_failed") == 5

    def test_five_failures_from_one_ip_lock_that_ip_for_other_accounts(self, make_client):
        client, rt = make_client()
        for _ in range(5):
            assert _fail(client, f"{uuid.uuid4().hex[:8]}@example.org").status_code == 401
        other = make_user(rt, roles=["dpo"])
        _assert_429(_ok(client, other))
        assert _ok(client, other, ip="198.51.100.2").status_code == 200

    def test_successful_logins_do_not_count(self, make_client):
        client, rt = make_client()
        email = make_user(rt, roles=["dpo"])
        for _ in range(7):
            assert _ok(client, email).status_code == 200

    def test_limit_is_configurable(self, make_client):
        client, rt = make_client(login_rate_limit="2/15 minutes")
        email = make_user(rt, roles=["dpo"])
        _fail(client, email)
        _fail(client, email)
        _assert_429(_ok(client, email, ip="198.51.100.7"))


class TestApiLimit:
    def test_per_principal_limit_gives_429_with_retry_after(self, make_client):
        client, rt = make_client(api_rate_limit="3/minute")
        a = login(client, make_user(rt, roles=["dpo"]))
        b = login(client, make_user(rt, roles=["dpo"]))
        for _ in range(3):
            assert client.get("/v1/purposes", headers=a).status_code == 200
        retry = _assert_429(client.get("/v1/purposes", headers=a))
        assert retry <= 60
        assert client.get("/v1/purposes", headers=b).status_code == 200  # its own budget
        rows = audit_rows(rt, action="security.rate_limit")
        assert len(rows) == 1 and rows[0]["outcome"] == "denied"
        assert _metric(client, "rate_limited") == 1

    def test_app_override(self, make_client):
        client, rt = make_client(api_rate_limit="2/minute")
        admin = login(client, make_user(rt, roles=["admin"]))
        app = register_app(client, admin, ["collections:read"])
        fast = client.post("/v1/apps", headers=admin,
                           json={"name": "fast", "scopes": ["collections:read"],
                                 "rate_limit": "5/minute"})  # fmt: skip
        assert fast.status_code == 201, fast.text
        assert fast.json()["rate_limit"] == "5/minute"

        def headers(a):  # type: ignore[no-untyped-def]
            r = client.post(
                "/v1/auth/token",
                data={"grant_type": "client_credentials", "client_id": a["client_id"],
                      "client_secret": a["client_secret"]},
            )  # fmt: skip
            return bearer(r.json()["access_token"])

        slow_h, fast_h = headers(app), headers(fast.json())
        statuses = [client.get("/v1/collections", headers=slow_h).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        statuses = [client.get("/v1/collections", headers=fast_h).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]

    def test_bad_override_is_422(self, make_client):
        client, rt = make_client()
        admin = login(client, make_user(rt, roles=["admin"]))
        r = client.post("/v1/apps", headers=admin, json={"name": "x", "rate_limit": "lots"})
        assert r.status_code == 422


class TestIpBlocks:
    def test_repeated_violations_block_the_ip_until_an_admin_lifts_it(self, make_client):
        client, rt = make_client(ip_block_threshold=2)
        admin = login(client, make_user(rt, roles=["admin"]))
        body = {"name": "abuser", "scopes": [], "rate_limit": "1/minute"}
        app = client.post("/v1/apps", headers=admin, json=body).json()
        token = client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": app["client_id"],
            "client_secret": app["client_secret"]}).json()["access_token"]  # fmt: skip
        abuser = bearer(token)
        bad = "203.0.113.66"
        assert client.get("/v1/purposes", headers=from_ip(bad, abuser)).status_code == 200
        _assert_429(client.get("/v1/purposes", headers=from_ip(bad, abuser)))
        assert client.get("/healthz", headers=from_ip(bad)).status_code == 200  # one is not enough
        _assert_429(client.get("/v1/purposes", headers=from_ip(bad, abuser)))
        # Blocked now: every request from that address, with or without credentials.
        for path in ("/v1/purposes", "/healthz", "/nowhere"):
            r = client.get(path, headers=from_ip(bad))
            assert r.status_code == 403, r.text
            assert r.json()["type"].endswith("/ip-blocked")
            assert r.headers["x-frame-options"] == "DENY"
        assert client.get("/healthz", headers=from_ip("203.0.113.67")).status_code == 200
        rows = audit_rows(rt, action="security.ip_block")
        assert len(rows) == 1 and rows[0]["client_ip"] == bad
        assert _metric(client, "ip_blocked") == 1

        listed = client.get("/v1/security/ip-blocks", headers=from_ip("203.0.113.1", admin))
        assert listed.status_code == 200
        assert [b["ip"] for b in listed.json()["items"]] == [bad]
        lifted = client.delete(f"/v1/security/ip-blocks/{bad}",
                               headers=from_ip("203.0.113.1", admin))  # fmt: skip
        assert lifted.status_code == 204
        assert client.get("/healthz", headers=from_ip(bad)).status_code == 200
        after = client.get("/v1/security/ip-blocks", headers=from_ip("203.0.113.1", admin))
        assert after.json() == {"items": [], "next_cursor": None}
        assert audit_rows(rt, action="security.ip_unblock")

    def test_blocks_are_shared_through_the_database(self, make_client):
        one, rt = make_client(ip_block_refresh=0)
        two, _ = make_client(ip_block_refresh=0)
        from privacy.db import new_session
        from privacy.security import blocks

        with new_session(rt.engine) as s:
            blocks.block(s, "203.0.113.80", reason="test", seconds=600)
            s.commit()
        assert one.get("/healthz", headers=from_ip("203.0.113.80")).status_code == 403
        assert two.get("/healthz", headers=from_ip("203.0.113.80")).status_code == 403

    def test_lifting_an_unknown_block_is_404(self, make_client):
        client, rt = make_client()
        admin = login(client, make_user(rt, roles=["admin"]))
        assert client.delete("/v1/security/ip-blocks/192.0.2.1", headers=admin).status_code == 404


class TestTrustedProxies:
    def test_forwarded_for_is_ignored_from_an_untrusted_peer(self, make_client):
        client, rt = make_client(peer="203.0.113.5", trusted_proxies="")
        _fail(client, "nobody@example.org", ip="198.51.100.200")
        row = audit_rows(rt, action="auth.login", outcome="denied")[-1]
        assert row["client_ip"] == "203.0.113.5"

    def test_forwarded_for_is_believed_from_a_trusted_proxy(self, make_client):
        client, rt = make_client(peer="203.0.113.5", trusted_proxies="203.0.113.0/28")
        # The left-most entry was written by the client and may be forged; the right-most
        # address that is not one of our proxies is the client.
        _fail(client, "nobody@example.org", ip="6.6.6.6, 198.51.100.200, 203.0.113.4")
        row = audit_rows(rt, action="auth.login", outcome="denied")[-1]
        assert row["client_ip"] == "198.51.100.200"

    def test_bad_proxy_setting_is_refused_at_start(self, dev_vault, tmp_path):
        from support.settings import make_settings

        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            make_settings(dev_vault, tmp_path, trusted_proxies="not-an-ip")


def _redis_url() -> str | None:
    url = "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        reason = f"Redis not reachable at {url}: {type(exc).__name__}"
        if os.environ.get("PRIVACY_TEST_REQUIRE_REDIS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def _fresh_ip() -> str:
    """An address no other run has used: Redis keeps counters across runs and parallel
    test workers (a pick from 200 IPv4 addresses collided with an earlier run's lockout)."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


class TestRedis:
    def test_two_instances_share_one_limit(self, make_client):
        url = _redis_url()
        one, rt = make_client(redis_url=url, api_rate_limit="4/minute")
        two, _ = make_client(redis_url=url, api_rate_limit="4/minute")
        # A fresh principal and address: counters left in Redis by other runs do not count.
        ip = _fresh_ip()
        headers = from_ip(ip, login(one, make_user(rt, roles=["dpo"])))
        assert one.get("/v1/purposes", headers=headers).status_code == 200
        assert two.get("/v1/purposes", headers=headers).status_code == 200
        assert one.get("/v1/purposes", headers=headers).status_code == 200
        assert two.get("/v1/purposes", headers=headers).status_code == 200
        # Each instance has seen two requests; together they have used the four.
        _assert_429(one.get("/v1/purposes", headers=headers))
        _assert_429(two.get("/v1/purposes", headers=headers))

    def test_login_lockout_is_shared(self, make_client):
        url = _redis_url()
        one, rt = make_client(redis_url=url)
        two, _ = make_client(redis_url=url)
        email = make_user(rt, roles=["dpo"])
        ip = _fresh_ip()
        for client in (one, two, one, two, one):
            assert _fail(client, email, ip=ip).status_code == 401
        _assert_429(_ok(two, email, ip="203.0.113.99"))

    def test_unreachable_redis_fails_closed_with_503(self, make_client):
        from support.openbao import free_port

        client, rt = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
        r = _ok(client, make_user(rt, roles=["dpo"]))
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert "Redis" in r.json()["detail"]
