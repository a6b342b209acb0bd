"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from privacy.deps import RuntimeDep
from privacy.errors import DEFAULT_PROBLEM
from privacy.schemas import ReadModel

router = APIRouter(tags=["operations"], responses=DEFAULT_PROBLEM)


class Readiness(ReadModel):
    status: str
    checks: dict[str, bool]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Database or Vault unreachable"}},
)
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Database and Vault are reachable."""
    checks = {"database": _db_ok(rt), "vault": rt.transit.health()}
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )


def _db_ok(rt: RuntimeDep) -> bool:
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
