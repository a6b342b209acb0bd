"""Pure ASGI middleware: request id, body-size cap, security headers, metrics."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privacy.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-xss-protection", b"0"),
    # Responses may carry personal data: no cache, shared or private, may keep them.
    (b"cache-control", b"no-store"),
]


class EdgeMiddleware:
    """Runs outermost, so even errors raised by the app get a request id and the headers."""

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Any | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, int | None] = {"status": 500, "answered": None}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = status_holder["answered"] = message["status"]
                hdrs = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                present = {k for k, _ in hdrs}
                hdrs.extend((k, v) for k, v in SECURITY_HEADERS if k not in present)
                hdrs.append((b"x-request-id", request_id.encode()))
                message["headers"] = hdrs
            await send(message)

        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(scope, send_wrapped, request_id)
            return
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # Raised inside the app, so its handlers render it as problem+json.
                    raise HTTPException(
                        413, f"the request body exceeds the limit of {self.max_body} bytes"
                    )
            return message

        try:
            await self.app(scope, receive_capped, send_wrapped)
        except Exception:
            if status_holder.get("answered") is None:
                raise
            # The error handler has answered (problem+json) and logged the error's type.
            # Re-raised, it would reach the server, which logs the traceback with the
            # exception's message, and messages can carry personal data from the request.
        finally:
            if self.metrics is not None:
                path = getattr(scope.get("route"), "path", "unmatched")
                status = status_holder["status"] or 500
                self.metrics.request(scope["method"], path, status, time.perf_counter() - started)

    async def _too_large(self, scope: Scope, send: Send, request_id: str) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_BASE + "payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"the request body exceeds the limit of {self.max_body} bytes",
                "instance": scope.get("path"),
                "request_id": request_id,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
