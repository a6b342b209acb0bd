"""The two hot routes, record write and record read, served past FastAPI's per-request work.

Nearly all traffic is these two requests, and FastAPI's generic machinery (dependency
solving, parameter extraction, the async exit stacks) cost more CPU than their own work.
Each is a Starlette route placed before the API routers. It reads the request itself,
exactly as the declared FastAPI route would (same body model, same query and header
limits), and runs the same `Transaction` and service call as that route.

Anything it does not take on as-is goes to the declared route unchanged: a request
without a bearer token (browser sessions, missing credentials: 401 first), a body that is
not JSON or does not validate, a query or header over its limit, a malformed record id.
So every refusal keeps the wording, status and audit of the FastAPI route, and those
routes remain the documented contract (OpenAPI) and a tested path of their own.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, compile_path, get_route_path
from starlette.types import Message, Receive, Scope, Send

from privacy.deps import Transaction
from privacy.subjects.router import FIELDS_MAX, PURPOSE_MAX, read_one, read_purpose, write_one
from privacy.subjects.schemas import RecordCreate

# Set on the scope when a request is handed to the declared route, so this one steps aside.
DECLINED = "privacy.hot.declined"

_UUID = TypeAdapter(uuid.UUID)

# A request's answer, or None to hand the request to the declared route.
Serve = Callable[[Scope, bytes], Awaitable[Response] | None]


class HotRoute(BaseRoute):
    def __init__(self, method: str, path: str, serve: Serve, *, body: bool) -> None:
        self.method = method
        self.path = self.path_format = path
        self.regex: re.Pattern[str] = compile_path(path)[0]
        self.serve = serve
        self.reads_body = body

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != self.method or DECLINED in scope:
            return Match.NONE, {}
        found = self.regex.match(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        return Match.FULL, {"path_params": found.groupdict(), "route": self}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive) if self.reads_body else b""
        answer = self.serve(scope, body)
        if answer is None:
            scope[DECLINED] = True
            await scope["router"](scope, _replay(body, receive), send)
            return
        response = await answer
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - never named; the API routes are

    def __repr__(self) -> str:
        return f"HotRoute({self.method} {self.path})"


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The already-read body, once, for the declared route; then the connection itself."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _bearer(headers: Headers) -> HTTPAuthorizationCredentials | None:
    """A bearer token, where HTTPBearer(auto_error=False) would find one."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


def _is_json(headers: Headers) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def _transaction(scope: Scope, creds: HTTPAuthorizationCredentials) -> Transaction:
    return Transaction(Request(scope), scope["app"].state.runtime, creds, ("app",))


def _serve_create(scope: Scope, body: bytes) -> Awaitable[Response] | None:
    headers = Headers(scope=scope)
    creds = _bearer(headers)
    if creds is None or not body or not _is_json(headers):
        return None
    try:
        item = RecordCreate.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
        return None
    return write_one(scope["path_params"]["collection"], item, _transaction(scope, creds))


def _serve_read(scope: Scope, body: bytes) -> Awaitable[Response] | None:
    headers = Headers(scope=scope)
    creds = _bearer(headers)
    if creds is None:
        return None
    query = QueryParams(scope["query_string"])
    purpose, fields = query.get("purpose"), query.get("fields")
    x_purpose = headers.get("x-purpose")
    limits = ((purpose, PURPOSE_MAX), (x_purpose, PURPOSE_MAX), (fields, FIELDS_MAX))
    if any(value is not None and len(value) > most for value, most in limits):
        return None
    params = scope["path_params"]
    try:
        record_id = _UUID.validate_python(params["record_id"])
    except ValidationError:
        return None
    return read_one(
        params["collection"],
        record_id,
        _transaction(scope, creds),
        read_purpose(purpose, x_purpose),
        fields,
    )


def routes() -> list[HotRoute]:
    """The hot routes, for one app (placed in front of its API routes)."""
    return [
        HotRoute("POST", "/v1/collections/{collection}/records", _serve_create, body=True),
        HotRoute(
            "GET", "/v1/collections/{collection}/records/{record_id}", _serve_read, body=False
        ),
    ]
