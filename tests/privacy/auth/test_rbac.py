"""Least privilege: every non-admin role is refused every admin endpoint (found by walking
the app's routes), and one app cannot touch another's collections."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.routing import APIRoute

from privacy.app import create_app
from privacy.config import Settings
from support.api import (
    FULL_APP_SCOPES,
    app_headers,
    audit_rows,
    new_record,
    new_subject,
    user_headers,
)


def _routes(routes: Any) -> Any:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's lazily included routers
            yield from _routes(route.original_router.routes)


def _required_roles(dependant: Any) -> list[tuple[str, ...]]:
    found = []
    for dep in dependant.dependencies:
        call = dep.call
        if getattr(call, "__qualname__", "").startswith("require_roles."):
            cells = dict(zip(call.__code__.co_freevars, call.__closure__ or (), strict=True))
            found.append(cells["roles"].cell_contents)
        found.extend(_required_roles(dep))
    return found


ADMIN_ROUTES = sorted(
    (method, route.path)
    for route in _routes(create_app(Settings(_env_file=None)).routes)
    if ("admin",) in _required_roles(route.dependant)
    for method in route.methods
)


def test_the_walk_finds_the_admin_endpoints():
    # If a route lost its admin requirement, it would drop out of the walk: pin the set.
    expected = {
        ("POST", "/v1/users"),
        ("GET", "/v1/users"),
        ("POST", "/v1/users/{user_id}/suspend"),
        ("POST", "/v1/users/{user_id}/reactivate"),
        ("POST", "/v1/apps"),
        ("GET", "/v1/apps"),
        ("POST", "/v1/apps/{app_id}/secret"),
        ("POST", "/v1/apps/{app_id}/suspend"),
        ("POST", "/v1/apps/{app_id}/reactivate"),
        ("POST", "/v1/keys/token-signing/rotate"),
        ("GET", "/v1/security/ip-blocks"),
        ("DELETE", "/v1/security/ip-blocks/{ip}"),
        ("PUT", "/v1/collections/{name}"),
        ("GET", "/v1/keys/status"),
        ("POST", "/v1/keys/rotate"),
    }
    assert expected <= set(ADMIN_ROUTES)


def _fill(path: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("_id"):
            return str(uuid.uuid4())
        return "192.0.2.1" if name == "ip" else "customers"

    return re.sub(r"\{(\w+)\}", value, path)


@pytest.mark.parametrize("role", ["dpo", "auditor", "app"])
def test_every_role_is_refused_every_admin_endpoint(client, admin, runtime, role):
    if role == "app":
        headers = app_headers(client, admin, [*FULL_APP_SCOPES, "records:*:*", "purpose:*"])
    else:
        headers = user_headers(client, runtime, role)
    wrong = []
    for method, path in ADMIN_ROUTES:
        r = client.request(method, _fill(path), headers=headers, json={})
        if r.status_code != 403 or r.headers["content-type"] != "application/problem+json":
            wrong.append((method, path, r.status_code))
    assert wrong == []
    denied = audit_rows(runtime, action="authz.role", outcome="denied")
    assert len(denied) == len(ADMIN_ROUTES)
    metrics = client.get("/metrics").text
    assert (
        f'privacy_auth_security_events_total{{event="permission_denied"}} {len(ADMIN_ROUTES)}.0'
        in metrics
    )


class TestAppIsolation:
    def test_one_app_cannot_read_or_write_another_apps_collection(self, client, admin, vault_app):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        r = client.put(
            "/v1/collections/orders",
            headers=admin,
            json={"fields": [{"name": "item", "type": "string", "category": "profile"}]},
        )
        assert r.status_code in (200, 201), r.text
        other = app_headers(
            client,
            admin,
            ["subjects:read", "collections:read", "records:read:orders",
             "records:write:orders", "purpose:support"],
        )  # fmt: skip
        q = {"purpose": "support"}
        assert client.get(f"/v1/collections/customers/records/{rid}", headers=other,
                          params=q).status_code == 403  # fmt: skip
        assert client.get("/v1/collections/customers/records", headers=other,
                          params={**q, "subject_id": sid}).status_code == 403  # fmt: skip
        assert client.post("/v1/collections/customers/search", headers=other, params=q,
                           json={"email": "alice@example.org"}).status_code == 403  # fmt: skip
        assert client.patch(f"/v1/collections/customers/records/{rid}", headers=other,
                            json={"data": {"name": "X"}}).status_code == 403  # fmt: skip
        assert client.delete(f"/v1/collections/customers/records/{rid}",
                             headers=other).status_code == 403  # fmt: skip
        # The owner still can.
        own = client.get(f"/v1/collections/customers/records/{rid}", headers=vault_app, params=q)
        assert own.status_code == 200
