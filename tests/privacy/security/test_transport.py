"""Security headers on every answer, HTTPS-only in production, trusted hosts, CORS, and
`privacy serve` terminating TLS itself."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from support.api import ADMIN_PASSWORD, login, make_user
from support.openbao import free_port

HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-xss-protection": "0",
    "cache-control": "no-store",
}


JSON = "application/json"


def assert_headers(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.status_code)


class TestHeaders:
    def test_on_every_kind_of_answer(self, make_client):
        client, rt = make_client(api_rate_limit="1/minute")
        dpo = login(client, make_user(rt, roles=["dpo"]))
        answers = [
            client.get("/healthz"),
            client.get("/v1/purposes", headers=dpo),  # 200
            client.get("/v1/purposes", headers=dpo),  # 429
            client.get("/v1/no-such-thing"),  # 404
            client.get("/v1/users"),  # 401
            client.delete("/healthz"),  # 405
            client.post(
                "/v1/auth/login", content=b"{", headers={"content-type": "application/json"}
            ),
        ]
        assert [a.status_code for a in answers] == [200, 200, 429, 404, 401, 405, 422]
        for a in answers:
            assert_headers(a)

    def test_on_gate_refusals(self, make_client):
        prod, _ = make_client(env="production")
        host, _ = make_client(trusted_hosts="api.example.org")
        for resp in (prod.get("/v1/purposes"), host.get("/v1/purposes")):
            assert resp.status_code in (400, 403)
            assert resp.headers["content-type"] == "application/problem+json"
            assert_headers(resp)

    def test_personal_data_answers_are_not_cached(self, client, vault_app):
        from support.api import new_record, new_subject

        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = client.get(f"/v1/collections/customers/records/{rid}?purpose=support",
                       headers=vault_app)  # fmt: skip
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


class TestHttpsOnly:
    def test_production_refuses_plain_http_without_redirect(self, make_client):
        client, _ = make_client(env="production")
        r = client.post("/v1/auth/login", json={"email": "a@example.org", "password": "x"})
        assert r.status_code == 403
        assert r.json()["type"].endswith("/https-required")
        assert "location" not in r.headers

    def test_production_serves_https(self, make_client):
        client, rt = make_client(env="production", base_url="https://testserver")
        email = make_user(rt, roles=["dpo"])
        r = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        assert r.status_code == 200

    def test_forwarded_proto_only_from_trusted_proxies(self, make_client):
        trusted, _ = make_client(env="production", trusted_proxies="127.0.0.1")
        untrusted, _ = make_client(env="production", trusted_proxies="")
        h = {"X-Forwarded-Proto": "https"}
        assert trusted.get("/v1/purposes", headers=h).status_code == 401  # through the gate
        assert untrusted.get("/v1/purposes", headers=h).status_code == 403
        assert trusted.get("/v1/purposes", headers={"X-Forwarded-Proto": "http"}).status_code == 403

    def test_health_probes_may_use_plain_http(self, make_client):
        client, _ = make_client(env="production")
        assert client.get("/healthz").status_code == 200

    def test_development_accepts_plain_http(self, make_client):
        client, _ = make_client()
        assert client.get("/v1/purposes").status_code == 401


class TestTrustedHosts:
    def test_unknown_host_is_refused(self, make_client):
        client, _ = make_client(trusted_hosts="api.example.org, *.internal.example.org")
        assert client.get("/healthz").status_code == 400
        assert client.get("/healthz", headers={"host": "api.example.org"}).status_code == 200
        assert (
            client.get("/healthz", headers={"host": "a.internal.example.org:8443"}).status_code
            == 200
        )
        assert client.get("/healthz", headers={"host": "api.example.org.evil"}).status_code == 400

    def test_any_host_by_default(self, make_client):
        client, _ = make_client()
        assert client.get("/healthz", headers={"host": "whatever.example"}).status_code == 200


class TestCors:
    PREFLIGHT = {
        "Origin": "https://app.example.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }

    def test_no_cross_origin_access_by_default(self, make_client):
        client, _ = make_client()
        r = client.options("/v1/auth/login", headers=self.PREFLIGHT)
        assert "access-control-allow-origin" not in r.headers
        r = client.get("/healthz", headers={"Origin": "https://app.example.org"})
        assert "access-control-allow-origin" not in r.headers

    def test_allow_list(self, make_client):
        client, _ = make_client(cors_origins="https://app.example.org")
        r = client.options("/v1/auth/login", headers=self.PREFLIGHT)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example.org"
        assert "access-control-allow-credentials" not in r.headers
        evil = {**self.PREFLIGHT, "Origin": "https://evil.example"}
        other = client.options("/v1/auth/login", headers=evil)
        assert "access-control-allow-origin" not in other.headers
        assert other.status_code == 400
        assert other.headers["content-type"] == "application/problem+json"
        assert "origin" in other.json()["detail"] and other.headers["x-request-id"]
        odd = {**self.PREFLIGHT, "Access-Control-Request-Method": "TRACE"}
        assert "method" in client.options("/v1/auth/login", headers=odd).json()["detail"]
        r = client.get("/healthz", headers={"Origin": "https://app.example.org"})
        assert r.headers["access-control-allow-origin"] == "https://app.example.org"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _privacy_bin() -> str:
    # The interpreter's own script first: another `privacy` on PATH may be an older install.
    sibling = Path(sys.executable).parent / "privacy"
    found = str(sibling) if sibling.exists() else (shutil.which("privacy") or str(sibling))
    if not Path(found).exists():
        pytest.skip("the privacy console script is not installed (pip install -e .)")
    return found


class TestServeTls:
    def test_serve_terminates_tls(self, dev_vault, tmp_path):
        cert, key = _self_signed(tmp_path)
        port = free_port()
        suffix = uuid.uuid4().hex[:8]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")},
            "PRIVACY_DATA_DIR": str(tmp_path / "data"),
            "PRIVACY_VAULT_ADDR": dev_vault.addr,
            "PRIVACY_VAULT_TOKEN": dev_vault.token,
            "PRIVACY_KEK_NAME": f"kek-{suffix}",
            "PRIVACY_SERVICE_KEY_NAME": f"svc-{suffix}",
        }
        log = tmp_path / "serve.log"
        cmd = [_privacy_bin(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ctx = ssl.create_default_context(cafile=str(cert))
            deadline, answer = time.monotonic() + 90, None
            while time.monotonic() < deadline and answer is None:
                if proc.poll() is not None:
                    pytest.fail(f"privacy serve exited early:\n{log.read_text()[-3000:]}")
                try:
                    answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ctx, timeout=2)
                except httpx.TransportError:
                    time.sleep(0.3)
            assert answer is not None, log.read_text()[-3000:]
            assert answer.status_code == 200
            assert answer.headers["strict-transport-security"].startswith("max-age=")
            # The same port does not speak plain HTTP.
            with pytest.raises(httpx.HTTPError):
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if r.status_code >= 400:
                    raise httpx.HTTPError("refused")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def test_half_a_tls_configuration_is_refused(self, tmp_path):
        cert, _ = _self_signed(tmp_path)
        r = subprocess.run(
            [_privacy_bin(), "serve", "--ssl-certfile", str(cert)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "PRIVACY_DATA_DIR": str(tmp_path)},
        )  # fmt: skip
        assert r.returncode == 2 and "ssl-keyfile" in r.stderr
