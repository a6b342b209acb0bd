"""The first thing a request meets inside the edge middleware: who is calling (trusted
proxies), to which host, over which scheme, and whether that address is blocked."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from privacy.config import Settings
from privacy.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from privacy.security.network import client_address, networks, scheme

# Orchestrators probe these over plain HTTP from inside the cluster; they carry no data.
PLAIN_HTTP_PATHS = {"/healthz", "/readyz"}


class Gate:
    def __init__(self, app: ASGIApp, *, settings: Settings, state: Any) -> None:
        self.app = app
        self.settings = settings
        self.state = state
        self.hosts = [h.lower() for h in Settings.split(settings.trusted_hosts)] or ["*"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        peer = scope["client"][0] if scope.get("client") else None
        trusted = networks(self.settings.trusted_proxies)
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1") or None
        ip = client_address(peer, forwarded, trusted)
        scope.setdefault("state", {})["client_ip"] = ip

        host = _hostname(headers.get(b"host", b"").decode("latin-1"))
        if "*" not in self.hosts and not any(fnmatchcase(host, h) for h in self.hosts):
            await _problem(scope, send, 400, "untrusted-host", "Bad request", "unknown host")
            return
        if self.settings.env == "production" and scope["path"] not in PLAIN_HTTP_PATHS:
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1") or None
            if scheme(peer, scope.get("scheme", "http"), proto, trusted) != "https":
                # No redirect: a client that sent credentials in clear text must learn that
                # they are exposed, not have the mistake hidden by a 30x.
                await _problem(
                    scope, send, 403, "https-required", "HTTPS required",
                    "this API is served over HTTPS only",
                )  # fmt: skip
                return
        blocks = self.state.ip_blocks
        runtime = getattr(self.state, "runtime", None)
        if runtime is not None and ip:
            if blocks.stale():
                await anyio.to_thread.run_sync(blocks.reload, runtime.engine)
            if blocks.is_blocked(ip):
                await _problem(
                    scope, send, 403, "ip-blocked", "Address blocked",
                    "requests from this address are blocked after repeated abuse; "
                    "contact the operator",
                )  # fmt: skip
                return
        await self.app(scope, receive, send)


def _hostname(host: str) -> str:
    """The Host header without its port ("[::1]:8000" -> "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _problem(scope: Scope, send: Send, status: int, code: str, title: str, detail: str):  # type: ignore[no-untyped-def]
    body = json.dumps(
        {
            "type": PROBLEM_BASE + code,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path"),
            "request_id": scope.get("state", {}).get("request_id"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
