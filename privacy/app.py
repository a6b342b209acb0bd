"""Application factory: routers, middleware, error handlers, and the runtime lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from privacy import __version__
from privacy import docs as api_docs
from privacy.audit.router import router as audit_router
from privacy.audit.worker import AuditWorker
from privacy.auth.router import router as auth_router
from privacy.catalog.router import router as catalog_router
from privacy.config import Settings, get_settings
from privacy.consent.router import router as consent_router
from privacy.erasure.replay import startup as erasure_startup
from privacy.errors import PROBLEM_MEDIA_TYPE, install_handlers
from privacy.keys.router import router as keys_router
from privacy.metrics import Metrics
from privacy.middleware import EdgeMiddleware
from privacy.ops.router import router as ops_router
from privacy.reports.router import router as reports_router
from privacy.requests import metrics as dsr_metrics
from privacy.requests.router import router as requests_router
from privacy.retention.router import router as retention_router
from privacy.runtime import Runtime, build_runtime
from privacy.scheduling.router import router as jobs_router
from privacy.security.install import install as install_security
from privacy.security.router import router as security_router
from privacy.subject_auth.router import router as subject_auth_router
from privacy.subjects import hot as hot_routes
from privacy.subjects.router import router as subjects_router
from privacy.webhooks.router import router as webhooks_router
from privacy.webhooks.sender import WebhookSender

log = logging.getLogger("privacy.app")


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the API. With `runtime` given (tests, benchmarks), the caller owns it."""
    settings = settings or (runtime.settings if runtime else get_settings())
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or build_runtime(settings)
        # Erased subjects that a database restore brought back are erased again before
        # anything else runs; then Art. 19 webhooks go out as they are queued.
        erasure_startup(app.state.runtime)
        app.state.audit_worker = AuditWorker(app.state.runtime, metrics=metrics)
        app.state.audit_worker.start()
        app.state.webhook_sender = WebhookSender(app.state.runtime)
        app.state.webhook_sender.start()
        scheduler = _start_scheduler(app.state.runtime) if settings.runs_scheduler else None
        try:
            yield
        finally:
            if scheduler is not None:
                from jobs.scheduler import stop

                stop(scheduler)
            app.state.webhook_sender.stop()
            app.state.audit_worker.stop()
            if owned:
                app.state.runtime.close()

    app = FastAPI(
        title="Privacy Vault",
        version=__version__,
        description="Envelope-encrypted personal data under Vault/OpenBao keys, with "
        "purpose-bound access and an access log.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry would export raw URLs (lookups carry ?email=) to
        # whatever collector a global provider points at; this service's metrics are
        # Prometheus, by route template. Off, it also skips a provider check per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # /docs is privacy.docs: Swagger UI from this origin, under a policy of its own.
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    if runtime is not None:
        app.state.runtime = runtime
    metrics.watch(lambda: _live_metrics(app))
    metrics.watch(lambda: dsr_metrics.collect(getattr(app.state, "runtime", None)))
    install_handlers(app)
    # Routes are matched in order, router by router: the record routes, which carry nearly
    # all the traffic, come first (no path of theirs is one of another router's; tested).
    routers = (
        subjects_router,
        ops_router,
        auth_router,
        catalog_router,
        consent_router,
        keys_router,
        audit_router,
        retention_router,
        reports_router,
        jobs_router,
        security_router,
        subject_auth_router,
        requests_router,
        webhooks_router,
    )
    for router in routers:
        app.include_router(router)
    # In front of them all: the two hot record routes, served past FastAPI's per-request
    # machinery, which hand anything unusual to their declared routes above.
    app.router.routes[0:0] = hot_routes.routes()
    api_docs.install(app)
    # Rate limits, IP blocks, trusted proxies and hosts, HTTPS-only, CORS (privacy.security).
    install_security(app, settings, metrics)
    # Outside Starlette's ServerErrorMiddleware too, so that the 500 it renders for an
    # unexpected crash still gets the request id and the security headers.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: EdgeMiddleware(  # type: ignore[method-assign]
        build_stack(), max_body=settings.max_body_bytes, metrics=metrics
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _start_scheduler(rt: Runtime) -> Any:
    from jobs.scheduler import start

    return start(rt)


def _live_metrics(app: FastAPI) -> Iterator[Any]:
    rt: Runtime | None = getattr(app.state, "runtime", None)
    if rt is None:
        return
    yield CounterMetricFamily(
        "privacy_vault_calls", "HTTP calls made to Vault/OpenBao.", value=rt.transit.calls
    )
    stats = rt.dek_cache.stats
    hits = CounterMetricFamily("privacy_dek_cache_hits", "DEK cache hits.", value=stats.hits)
    misses = CounterMetricFamily(
        "privacy_dek_cache_misses", "DEK cache misses.", value=stats.misses
    )
    size = GaugeMetricFamily("privacy_dek_cache_entries", "DEKs held in memory.", value=stats.size)
    yield from (hits, misses, size)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """Declare error answers as application/problem+json, as they are sent."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for code, resp in op.get("responses", {}).items():
                body = (resp.get("content") or {}).get("application/json")
                ref = (body or {}).get("schema", {}).get("$ref", "")
                # Error answers rendered by our handlers (FastAPI's own 422 included); a
                # documented non-problem body, such as /readyz's 503 report, stays as is.
                if (code == "default" or code[0] in "45") and ref.endswith(
                    ("/Problem", "/HTTPValidationError")
                ):
                    resp["content"] = {PROBLEM_MEDIA_TYPE: problem}
    app.openapi_schema = schema
    return schema
