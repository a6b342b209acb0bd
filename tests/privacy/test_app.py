"""The edges every endpoint shares: problem details, request ids, security headers, the body
cap, request parsing, the OpenAPI document, and the operations endpoints."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from privacy.app import create_app
from privacy.db import make_engine
from privacy.middleware import SECURITY_HEADERS
from privacy.runtime import Runtime, build_runtime
from support.api import (
    FULL_APP_SCOPES,
    app_headers,
    new_record,
    new_subject,
    setup_customers,
    user_headers,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SECRET = "zoe.secret@example.org"


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    assert "Traceback" not in resp.text
    return body


def assert_security_headers(resp) -> None:
    for name, value in SECURITY_HEADERS:
        assert resp.headers.get(name.decode()) == value.decode(), name


@pytest.fixture(scope="module")
def api_runtime(dev_vault, sqlite_template, tmp_path_factory) -> Iterator[Runtime]:
    """The edges do not depend on the database: one SQLite-backed runtime serves them all."""
    yield from _runtime(dev_vault, sqlite_template, tmp_path_factory.mktemp("edges"))


@pytest.fixture(scope="module")
def api(api_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=api_runtime), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def api_admin(api, api_runtime) -> dict[str, str]:
    return user_headers(api, api_runtime, "admin")


@pytest.fixture(scope="module")
def api_app(api, api_admin) -> dict[str, str]:
    setup_customers(api, api_admin)
    return app_headers(api, api_admin, FULL_APP_SCOPES)


@pytest.fixture(scope="module")
def crashing_client(api_runtime: Runtime) -> Iterator[TestClient]:
    """The real app plus one route that fails unexpectedly, with personal data in the
    exception message."""
    with TestClient(crashing_app(api_runtime), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def small_client(dev_vault, sqlite_template, tmp_path_factory) -> Iterator[TestClient]:
    """An app that accepts bodies of at most 1024 bytes."""
    d = tmp_path_factory.mktemp("small")
    for rt in _runtime(dev_vault, sqlite_template, d, max_body_bytes=1024):
        with TestClient(create_app(runtime=rt), raise_server_exceptions=False) as client:
            yield client


def _runtime(dev_vault, template: Path, where: Path, **settings) -> Iterator[Runtime]:
    from support.settings import make_settings

    shutil.copy(template, where / "privacy.db")
    engine = make_engine(f"sqlite:///{where / 'privacy.db'}")
    try:
        yield build_runtime(make_settings(dev_vault, where, **settings), engine=engine)
    finally:
        engine.dispose()


def crashing_app(rt: Runtime) -> FastAPI:
    app = create_app(runtime=rt)

    def explode() -> None:
        raise RuntimeError(f"could not process {SECRET}")

    app.add_api_route("/test-only/explode", explode)
    return app


class TestProblemDetails:
    def test_unknown_route_is_a_404_problem(self, api):
        body = assert_problem(api.get("/v1/nothing-here"), 404)
        assert body["instance"] == "/v1/nothing-here"

    def test_wrong_method_is_a_405_problem_with_allow(self, api):
        r = api.delete("/healthz")
        assert_problem(r, 405)
        assert "GET" in r.headers["allow"]

    def test_domain_error_is_a_problem(self, api):
        body = assert_problem(api.get("/v1/purposes"), 401)
        assert body["type"].endswith("/unauthorized")

    def test_unexpected_crash_is_a_bare_500_problem(self, crashing_client):
        r = crashing_client.get("/test-only/explode")
        body = assert_problem(r, 500)
        assert body["type"].endswith("internal-error")
        assert SECRET not in r.text
        assert "RuntimeError" not in r.text

    def test_unexpected_crash_does_not_reach_the_server(self, api_runtime):
        # A server logs an exception that escapes the app with its traceback and message,
        # which may hold personal data; once the problem is sent, nothing escapes.
        with TestClient(crashing_app(api_runtime), raise_server_exceptions=True) as client:
            assert_problem(client.get("/test-only/explode"), 500)

    def test_unexpected_crash_logs_no_personal_data(self, crashing_client, caplog):
        crashing_client.get("/test-only/explode")
        assert "RuntimeError" in caplog.text
        assert SECRET not in caplog.text


class TestRequestId:
    def test_given_id_is_echoed(self, api):
        r = api.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"})
        assert r.headers["x-request-id"] == "trace-42.a_b"

    def test_missing_id_is_generated_fresh_each_time(self, api):
        a = api.get("/healthz").headers["x-request-id"]
        b = api.get("/healthz").headers["x-request-id"]
        assert UUID_RE.match(a) and UUID_RE.match(b)
        assert a != b

    def test_unsafe_id_is_replaced(self, api):
        for bad in ("has space", "x" * 65, "<script>", "a\tb"):
            r = api.get("/healthz", headers={"X-Request-ID": bad})
            assert UUID_RE.match(r.headers["x-request-id"]), bad

    def test_errors_carry_the_id_in_header_and_body(self, api, crashing_client):
        for c, path, status in (
            (api, "/v1/nothing", 404),
            (api, "/v1/purposes", 401),
            (crashing_client, "/test-only/explode", 500),
        ):
            r = c.get(path, headers={"X-Request-ID": "req-1"})
            assert r.status_code == status
            assert r.headers["x-request-id"] == "req-1", path
            assert r.json()["request_id"] == "req-1"


class TestSecurityHeaders:
    def test_on_success(self, api):
        assert_security_headers(api.get("/healthz"))

    def test_on_404_and_401(self, api):
        assert_security_headers(api.get("/nope"))
        assert_security_headers(api.get("/v1/purposes"))

    def test_on_validation_error(self, api, api_admin):
        assert_security_headers(api.post("/v1/users", headers=api_admin, json={}))

    def test_on_unexpected_crash(self, crashing_client):
        assert_security_headers(crashing_client.get("/test-only/explode"))

    def test_on_413(self, small_client):
        assert_security_headers(small_client.post("/v1/auth/login", content=b"x" * 2000))


class TestBodyCap:
    def test_declared_length_over_the_cap_is_413_problem(self, small_client):
        r = small_client.post(
            "/v1/auth/login",
            content=b"{" + b" " * 2000 + b"}",
            headers={"content-type": "application/json"},
        )
        body = assert_problem(r, 413)
        assert body["type"].endswith("payload-too-large")
        assert "1024" in body["detail"]
        assert r.headers["x-request-id"]

    def test_streamed_body_over_the_cap_is_413_problem(self, small_client):
        def chunks() -> Iterator[bytes]:
            yield b'{"email": "a@example.org", "password": "'
            for _ in range(10):
                yield b"p" * 200
            yield b'"}'

        r = small_client.post(
            "/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        body = assert_problem(r, 413)
        assert body["type"].endswith("payload-too-large")
        assert_security_headers(r)

    def test_body_under_the_cap_is_read(self, small_client):
        r = small_client.post(
            "/v1/auth/login", json={"email": "a@example.org", "password": "p" * 900}
        )
        assert_problem(r, 401)

    def test_non_numeric_content_length_is_refused(self, small_client):
        r = small_client.post("/v1/auth/login", content=b"{}", headers={"content-length": "abc"})
        assert_problem(r, 413)


class TestRequestBodies:
    def test_malformed_json_is_422_problem(self, api):
        r = api.post(
            "/v1/auth/login",
            content=b'{"email": "' + SECRET.encode() + b'", "password": ',
            headers={"content-type": "application/json"},
        )
        body = assert_problem(r, 422)
        assert "not valid JSON" in body["detail"]
        assert SECRET not in r.text

    def test_unknown_json_field_is_422_naming_it(self, api, api_app):
        r = api.post(
            "/v1/subjects", headers=api_app, json={"external_id": "e-1", "nickname": "Zoe"}
        )
        body = assert_problem(r, 422)
        assert "nickname" in body["detail"]
        assert "Zoe" not in r.text

    def test_unknown_field_in_nested_body_is_422(self, api, api_app):
        sid = new_subject(api, api_app)
        r = api.post(
            "/v1/collections/customers/records",
            headers=api_app,
            json={"subject_id": sid, "data": {"name": "N"}, "owner": "me"},
        )
        assert_problem(r, 422)

    def test_wrong_content_type_is_a_problem(self, api, api_app):
        r = api.post(
            "/v1/subjects",
            headers={**api_app, "content-type": "text/plain"},
            content=b'{"external_id": "e-1"}',
        )
        assert_problem(r, 422)

    def test_invalid_value_is_not_echoed(self, api):
        r = api.post("/v1/auth/login", json={"email": SECRET + " x", "password": "pw"})
        body = assert_problem(r, 422)
        assert body["errors"][0]["field"] == "email"
        assert SECRET not in r.text

    def test_bad_path_uuid_is_422_problem(self, api, api_app):
        r = api.get("/v1/subjects/not-a-uuid", headers=api_app)
        assert_problem(r, 422)


@pytest.fixture(scope="module")
def schema(api) -> dict:
    r = api.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


class TestOpenApi:
    def operations(self, schema):
        for path, ops in schema["paths"].items():
            for method, op in ops.items():
                yield f"{method.upper()} {path}", op

    def test_every_operation_declares_its_errors(self, schema):
        for name, op in self.operations(schema):
            codes = set(op["responses"])
            assert any(c.startswith("4") for c in codes) or "default" in codes, name

    def test_error_answers_are_problem_json(self, schema):
        for name, op in self.operations(schema):
            for code, resp in op["responses"].items():
                if code.startswith("4") or code == "default":
                    content = resp.get("content") or {}
                    assert list(content) == ["application/problem+json"], f"{name} {code}"
                    ref = content["application/problem+json"]["schema"]["$ref"]
                    assert ref.endswith("/Problem"), f"{name} {code}"

    def test_problem_schema_has_the_rfc_9457_members(self, schema):
        problem = schema["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail"} <= set(problem["required"])

    def test_every_answer_with_a_body_declares_its_media_type(self, schema):
        for name, op in self.operations(schema):
            for code, resp in op["responses"].items():
                if code not in ("204", "304"):
                    assert resp.get("content"), f"{name} {code} declares no media type"

    def test_routes_have_summaries(self, schema):
        for name, op in self.operations(schema):
            assert op.get("summary") or op.get("description"), name


class TestOperations:
    def test_healthz_is_ok_without_credentials(self, client):
        r = client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}

    def test_readyz_checks_vault_and_database(self, client):
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "checks": {"database": True, "vault": True}}

    def test_metrics_expose_vault_and_cache_counters(self, client):
        client.get("/healthz")
        r = client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        for name in (
            "privacy_vault_calls_total",
            "privacy_dek_cache_hits_total",
            "privacy_dek_cache_misses_total",
            "privacy_http_requests_total",
        ):
            assert re.search(rf"^{name}[ {{]", r.text, re.M), name
        # Requests are counted by route template, never by the raw path.
        assert 'privacy_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text

    def test_warm_read_makes_no_vault_calls(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        url = f"/v1/collections/customers/records/{rid}?purpose=support"
        assert client.get(url, headers=vault_app).status_code == 200
        before, hits = runtime.transit.calls, runtime.dek_cache.stats.hits
        exposed = metric(client, "privacy_vault_calls_total")
        for _ in range(3):
            assert client.get(url, headers=vault_app).status_code == 200
        assert runtime.transit.calls == before
        assert metric(client, "privacy_vault_calls_total") == exposed
        assert runtime.dek_cache.stats.hits >= hits + 3
        assert metric(client, "privacy_dek_cache_hits_total") >= hits + 3

    def test_cold_read_calls_vault_once(self, client, vault_app, runtime):
        rid = new_record(client, vault_app, new_subject(client, vault_app))
        runtime.dek_cache.clear()
        before = runtime.transit.calls
        url = f"/v1/collections/customers/records/{rid}?purpose=support"
        assert client.get(url, headers=vault_app).status_code == 200
        assert client.get(url, headers=vault_app).status_code == 200
        assert runtime.transit.calls == before + 1

    def test_metrics_carry_no_personal_data(self, client, runtime):
        headers = user_headers(client, runtime, "admin")
        client.get(f"/v1/subjects?email={uuid.uuid4().hex}@example.org", headers=headers)
        assert "example.org" not in client.get("/metrics").text


def metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_no_path_is_answered_by_two_routers(settings):
    """create_app puts the record routes first because they carry the traffic; that is
    only harmless while no request path could match routes of two routers."""
    from starlette.routing import compile_path

    app = create_app(settings)
    routers = [r.original_router for r in app.routes if hasattr(r, "original_router")]
    assert len(routers) > 10
    templates = [(i, route.path) for i, router in enumerate(routers) for route in router.routes]

    def instances(path: str) -> list[str]:
        # Each parameter filled with a word, a UUID, and the literal segments in use.
        fills = ["x", str(uuid.uuid4()), "records", "search", "me", "verify"]
        return [re.sub(r"\{[^}]+\}", fill, path) for fill in fills]

    clashes = [
        (a, b)
        for i, a in templates
        for j, b in templates
        if i != j and any(compile_path(a)[0].match(p) for p in instances(b))
    ]
    assert clashes == []


class TestDocs:
    """/docs works under the service's CSP: everything from this origin, the start-up
    script allowed by its exact hash, and nothing sent to a third party."""

    def test_the_page_loads_only_from_this_origin(self, api):
        r = api.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        assert "SwaggerUIBundle" in html and "/openapi.json" in html
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
        assert "http://" not in html and "https://" not in html
        assert '"validatorUrl": null' in html  # no call to validator.swagger.io

    def test_its_policy_allows_its_own_inline_script_and_nothing_else(self, api):
        r = api.get("/docs")
        policy = dict(
            part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
        )
        scripts = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
        assert len(scripts) == 1
        digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
        assert policy["script-src"] == f"'self' 'sha256-{digest}'"
        assert "unsafe-inline" not in policy["script-src"]
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        # The API's own responses keep the strict policy.
        assert "script-src" not in api.get("/healthz").headers["content-security-policy"]

    def test_the_assets_are_served(self, api):
        for name, kind in [
            ("swagger-ui-bundle.js", "javascript"),
            ("swagger-ui.css", "text/css"),
            ("favicon.png", "image/png"),
        ]:
            r = api.get(f"/docs/assets/{name}")
            assert r.status_code == 200, name
            assert kind in r.headers["content-type"], (name, r.headers["content-type"])
            assert len(r.content) > 1000
        assert api.get("/docs/assets/../../privacy/app.py").status_code == 404
