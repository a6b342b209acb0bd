"""Wire the security pieces into an app: limiter, block list, counters, CORS, the gate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from privacy.config import Settings
from privacy.security.blocks import BlockList
from privacy.security.cors import ProblemCORSMiddleware
from privacy.security.events import make_counter
from privacy.security.gate import Gate
from privacy.security.limiter import Guard

CORS_HEADERS = ["Authorization", "Content-Type", "X-Purpose", "X-Request-ID", "X-CSRF-Token"]


def install(app: FastAPI, settings: Settings, metrics: Any) -> None:
    app.state.guard = Guard(settings)
    app.state.ip_blocks = BlockList(settings.ip_block_refresh)
    app.state.security_events = make_counter(metrics.registry)
    origins = Settings.split(settings.cors_origins)
    if origins:
        # Bearer tokens, not cookies, cross origins: credentials stay off.
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_HEADERS,
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    inner = app.build_middleware_stack
    app.build_middleware_stack = lambda: Gate(  # type: ignore[method-assign]
        inner(), settings=settings, state=app.state
    )
    outer_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with outer_lifespan(a) as state:
            from privacy.auth.servicekeys import prepare

            # Unwrap the auth domain's service keys now, not inside the first request.
            prepare(a.state.runtime)
            yield state

    app.router.lifespan_context = lifespan
