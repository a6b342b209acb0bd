"""The hot record routes (privacy.subjects.hot) answer exactly as the declared FastAPI
routes do. Each request below is sent twice, once as the service runs (hot routes in
front) and once with the hot routes taken out, and the two answers and the audit entries
they left must be the same. Ordinary requests must actually take the hot path, and the
unusual ones must be handed on to the declared route."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from privacy.subjects.hot import HotRoute
from support.api import SAMPLE_CUSTOMER, audit_rows, new_record, new_subject

RECORDS = "/v1/collections/customers/records"
# Values that differ between two otherwise equal answers (new ids, times, request ids).
VOLATILE = {"id", "created_at", "updated_at", "request_id", "instance"}
AUDITED = ("actor", "actor_type", "action", "outcome", "reason", "collection", "fields", "purpose")


@contextmanager
def declared_routes_only(app: Any) -> Iterator[None]:
    hot = [r for r in app.router.routes if isinstance(r, HotRoute)]
    assert hot, "the app has no hot routes to take out"
    app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, HotRoute)]
    try:
        yield
    finally:
        app.router.routes[0:0] = hot


@contextmanager
def hot_served(app: Any) -> Iterator[list[str]]:
    """The paths of the requests the hot routes answered themselves."""
    served: list[str] = []
    originals = {}
    for route in app.router.routes:
        if isinstance(route, HotRoute):
            originals[route] = route.serve

            def spy(scope, body, _serve=route.serve):  # type: ignore[no-untyped-def]
                answer = _serve(scope, body)
                if answer is not None:
                    served.append(scope["path"])
                return answer

            route.serve = spy
    try:
        yield served
    finally:
        for route, serve in originals.items():
            route.serve = serve


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _answer(client, runtime, send: Callable[[], Any]) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    before = len(audit_rows(runtime))
    resp = send()
    entries = [tuple(e[k] for k in AUDITED) for e in audit_rows(runtime)[before:]]
    try:
        body = _stable(resp.json())
    except ValueError:
        body = resp.text
    return resp.status_code, resp.headers.get("content-type"), body, entries


def _assert_same_both_ways(client, runtime, send: Callable[[], Any], *, hot: bool) -> None:  # type: ignore[no-untyped-def]
    """`send` answers alike with and without the hot routes, taken by them iff `hot`."""
    with hot_served(client.app) as served:
        fast = _answer(client, runtime, send)
    with declared_routes_only(client.app):
        declared = _answer(client, runtime, send)
    assert fast == declared
    assert bool(served) is hot, served


@pytest.fixture
def world(client, vault_app, runtime):  # type: ignore[no-untyped-def]
    sid = new_subject(client, vault_app)
    rid = new_record(client, vault_app, sid)
    return {"sid": sid, "rid": rid, "app": vault_app}


def _json_write(data: dict[str, Any] | None = None, **body: Any) -> Callable[..., Any]:
    def make(world: dict[str, Any]) -> dict[str, Any]:
        payload = {"subject_id": world["sid"], "data": data or {"name": "Ada", "score": 3}}
        payload.update(body)
        return {"json": payload}

    return make


WRITES: dict[str, tuple[Callable[..., dict[str, Any]], str | None, bool]] = {
    # name: (request kwargs from the world, Authorization override, served by the hot route)
    "valid": (_json_write(), None, True),
    "every field type": (_json_write(SAMPLE_CUSTOMER), None, True),
    "unknown field": (_json_write({"name": "A", "shoe_size": 44}), None, True),
    "invalid email": (_json_write({"email": "not an email"}), None, True),
    "unknown subject": (_json_write(subject_id=str(uuid.uuid4())), None, True),
    "no credentials": (_json_write(), "", False),
    "garbled token": (_json_write(), "Bearer not-a-token", True),
    "basic auth": (_json_write(), "Basic dXNlcjpwYXNz", False),
    "broken json": (lambda w: {"content": b'{"subject_id": ', "headers": _ct()}, None, False),
    "json that is not an object": (lambda w: {"content": b"[1, 2]", "headers": _ct()}, None, False),
    "no body": (lambda w: {"content": b"", "headers": _ct()}, None, False),
    "text/plain": (
        lambda w: {"content": b'{"subject_id": "x", "data": {}}', "headers": _ct("text/plain")},
        None,
        False,
    ),
    "subject id not a uuid": (_json_write(subject_id="nope"), None, False),
    "extra top-level key": (_json_write(colour="red"), None, False),
    "data not an object": (lambda w: {"json": {"subject_id": w["sid"], "data": 5}}, None, False),
}


def _ct(value: str = "application/json") -> dict[str, str]:
    return {"content-type": value}


def _send(client, method: str, url: str, auth: str | None, default: dict[str, str], **kw):  # type: ignore[no-untyped-def]
    headers = dict(kw.pop("headers", {}))
    if auth is None:
        headers.update(default)
    elif auth:
        headers["Authorization"] = auth
    return client.request(method, url, headers=headers, **kw)


@pytest.mark.parametrize("case", list(WRITES))
def test_a_write_is_answered_as_the_declared_route_answers_it(case, client, runtime, world):
    make, auth, hot = WRITES[case]

    request = partial(_send, client, "POST", RECORDS, auth, world["app"], **make(world))
    _assert_same_both_ways(client, runtime, request, hot=hot)


READS: dict[str, tuple[str, dict[str, str], str | None, bool]] = {
    # name: (url after the collection's records path, headers, Authorization, hot)
    "valid": ("{rid}?purpose=support", {}, None, True),
    "purpose in X-Purpose": ("{rid}", {"X-Purpose": "support"}, None, True),
    "field subset": ("{rid}?purpose=support&fields=name,email", {}, None, True),
    "no purpose": ("{rid}", {}, None, True),
    "unknown purpose": ("{rid}?purpose=gossip", {}, None, True),
    "purpose not covering a field": ("{rid}?purpose=marketing&fields=phone", {}, None, True),
    "unknown field": ("{rid}?purpose=support&fields=shoe_size", {}, None, True),
    "unknown record": (str(uuid.uuid4()) + "?purpose=support", {}, None, True),
    "purpose too long": ("{rid}?purpose=" + "p" * 64, {}, None, False),
    "X-Purpose too long": ("{rid}", {"X-Purpose": "p" * 64}, None, False),
    "fields too long": ("{rid}?purpose=support&fields=" + "f" * 2001, {}, None, False),
    "record id not a uuid": ("not-a-uuid?purpose=support", {}, None, False),
    "no credentials": ("{rid}?purpose=support", {}, "", False),
    "garbled token": ("{rid}?purpose=support", {}, "Bearer not-a-token", True),
}


@pytest.mark.parametrize("case", list(READS))
def test_a_read_is_answered_as_the_declared_route_answers_it(case, client, runtime, world):
    tail, headers, auth, hot = READS[case]
    url = f"{RECORDS}/{tail.format(rid=world['rid'])}"

    request = partial(_send, client, "GET", url, auth, world["app"], headers=headers)
    _assert_same_both_ways(client, runtime, request, hot=hot)


def test_the_other_collection_and_the_staff_caller_get_the_same_refusals(
    client, runtime, world, admin
):
    sid, rid = world["sid"], world["rid"]
    requests = [
        ("POST", "/v1/collections/nope/records", world["app"], {"subject_id": sid, "data": {}}),
        ("GET", f"/v1/collections/nope/records/{rid}?purpose=support", world["app"], None),
        ("POST", RECORDS, admin, {"subject_id": sid, "data": {"name": "A"}}),
        ("GET", f"{RECORDS}/{rid}?purpose=support", admin, None),
    ]
    for method, url, headers, body in requests:
        send = partial(client.request, method, url, headers=headers, json=body)
        fast = _answer(client, runtime, send)
        with declared_routes_only(client.app):
            declared = _answer(client, runtime, send)
        assert fast == declared, (method, url)
        assert fast[0] in (403, 404), fast


def test_a_write_and_its_read_back_through_the_hot_routes(client, runtime, world):
    with hot_served(client.app) as served:
        created = client.post(
            RECORDS,
            headers=world["app"],
            json={"subject_id": world["sid"], "data": SAMPLE_CUSTOMER},
        )
        assert created.status_code == 201, created.text
        read = client.get(f"{RECORDS}/{created.json()['id']}?purpose=support", headers=world["app"])
    assert read.status_code == 200, read.text
    assert read.json()["data"]["name"] == SAMPLE_CUSTOMER["name"]
    assert len(served) == 2


def test_the_hot_routes_are_in_front_of_the_declared_ones(client):
    routes = client.app.router.routes
    hot = [i for i, r in enumerate(routes) if isinstance(r, HotRoute)]
    assert hot == [0, 1]
