"""Cursor paging of the admin and catalog lists, through the API on both databases.

Each case seeds five items whose keys sort the same under any collation (they differ
only in a digit), then walks the list two at a time and compares the walk with the whole
list read in one page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from privacy.db import new_session
from privacy.runtime import Runtime
from privacy.security import blocks
from privacy.webhooks.models import WebhookAttempt, WebhookDelivery
from support.api import make_user, register_app, setup_customers

N = 5


@dataclass
class Case:
    path: str
    key: Callable[[dict[str, Any]], Any]
    seed: Callable[[Any, dict[str, str], Runtime], list[Any]]  # keys, in list order


def _users(client, admin, rt: Runtime) -> list[str]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    return [make_user(rt, roles=["dpo"], email=f"page-{tag}-{i}@example.org") for i in range(N)]


def _apps(client, admin, rt: Runtime) -> list[str]:  # type: ignore[no-untyped-def]
    return [register_app(client, admin, [], name=f"page-app-{i}")["name"] for i in range(N)]


def _collections(client, admin, rt: Runtime) -> list[str]:  # type: ignore[no-untyped-def]
    fields = [{"name": "note", "type": "string", "category": "contact"}]
    names = [f"page-col-{i}" for i in range(N)]
    for name in names:
        r = client.put(f"/v1/collections/{name}", headers=admin, json={"fields": fields})
        assert r.status_code == 201, r.text
    return names


def _purposes(client, admin, rt: Runtime) -> list[str]:  # type: ignore[no-untyped-def]
    setup_customers(client, admin)
    ids = [f"page-purpose-{i}" for i in range(N)]
    for pid in ids:
        body = {"description": pid, "legal_basis": "contract", "collections": ["customers"]}
        r = client.put(f"/v1/purposes/{pid}", headers=admin, json=body)
        assert r.status_code == 201, r.text
    return ids


def _deliveries(client, admin, rt: Runtime) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    app_id = uuid.UUID(register_app(client, admin, [])["id"])
    # Pairs share a created_at, so the id has to break the tie.
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        WebhookDelivery(
            app_id=app_id,
            event="subject.erased",
            subject_id=uuid.uuid4(),
            payload={},
            status="failed",  # never picked up by the in-process sender
            created_at=base + timedelta(seconds=i // 2),
        )
        for i in range(N)
    ]
    with new_session(rt.engine) as session:
        session.add_all(rows)
        session.flush()
        session.add(WebhookAttempt(delivery_id=rows[0].id, attempt=1, status_code=500))
        session.commit()
        keys = [(r.created_at, r.id) for r in rows]
    return [(at.isoformat(), str(rid)) for at, rid in sorted(keys, reverse=True)]


def _ip_blocks(client, admin, rt: Runtime) -> list[str]:  # type: ignore[no-untyped-def]
    ips = [f"198.51.100.{i}" for i in range(N)]
    with new_session(rt.engine) as session:
        for ip in ips:
            blocks.block(session, ip, reason="paging test", seconds=3600)
        session.commit()
    return ips


def _delivery_key(item: dict[str, Any]) -> tuple[str, str]:
    at = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    return at.isoformat(), item["id"]


CASES = {
    "users": Case("/v1/users", lambda u: u["email"], _users),
    "apps": Case("/v1/apps", lambda a: a["name"], _apps),
    "collections": Case("/v1/collections", lambda c: c["name"], _collections),
    "purposes": Case("/v1/purposes", lambda p: p["id"], _purposes),
    "deliveries": Case("/v1/webhooks/deliveries", _delivery_key, _deliveries),
    "ip-blocks": Case("/v1/security/ip-blocks", lambda b: b["ip"], _ip_blocks),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cursor_walks_the_list_once_in_order(client, admin, runtime, name):
    case = CASES[name]
    seeded = case.seed(client, admin, runtime)

    whole = client.get(case.path, headers=admin, params={"limit": 1000})
    assert whole.status_code == 200, whole.text
    assert whole.json()["next_cursor"] is None
    everything = [case.key(i) for i in whole.json()["items"]]
    assert len(set(everything)) == len(everything)
    assert [k for k in everything if k in seeded] == seeded

    first = client.get(case.path, headers=admin, params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]

    walked, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = client.get(case.path, headers=admin, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        walked += [case.key(i) for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages <= len(everything)  # a cursor that never ends would loop
    assert walked == everything
    assert page["items"]  # a cursor is issued only when another item follows


@pytest.mark.parametrize("name", list(CASES))
def test_limit_and_cursor_are_checked(client, admin, name):
    path = CASES[name].path
    for limit in (0, 1001, -1):
        assert client.get(path, headers=admin, params={"limit": limit}).status_code == 422
    for junk in ("garbage!", "bm9wZQ", "eyJrIjpbMV19", "eyJrIjoxfQ"):  # not ours, [1], 1
        r = client.get(path, headers=admin, params={"cursor": junk})
        assert r.status_code == 400, (junk, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 400
