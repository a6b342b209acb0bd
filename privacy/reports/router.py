from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from privacy.audit import service as audit
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.deps import RuntimeDep, SessionDep, require_roles
from privacy.errors import PROBLEM_RESPONSES
from privacy.reports import render, requests, service

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)
DpoCtx = Annotated[RequestContext, require_roles("dpo")]


def _content(kinds: tuple[str, ...]) -> dict[int | str, dict]:
    return {200: {"content": {render.FORMATS[k]: {} for k in kinds}, "description": "The report"}}


def _answer(body: bytes, fmt: str, name: str) -> Response:
    stamp = utcnow().strftime("%Y%m%d")
    return Response(
        body,
        media_type=render.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{fmt}"'},
    )


@router.get("/retention", response_class=Response, responses=_content(("pdf", "json", "csv")))
def retention_report(
    rt: RuntimeDep,
    ctx: DpoCtx,
    session: SessionDep,
    format: Annotated[Literal["pdf", "json", "csv"], Query(description="pdf, json or csv")] = "pdf",
    days: Annotated[
        int, Query(ge=1, le=3660, description="Purges counted over this many days.")
    ] = 90,
) -> Response:
    """Per policy: in scope, expiring in 30/90 days, overdue, purged, held and why."""
    report = service.retention_report(session, rt, now=utcnow(), days=days)
    audit.append(session, ctx, action="report.retention", reason=f"format:{format}")
    return _answer(render.render(report, format), format, "retention-report")


@router.get("/ropa", response_class=Response, responses=_content(("pdf", "json", "csv")))
def ropa_report(
    rt: RuntimeDep,
    ctx: DpoCtx,
    session: SessionDep,
    format: Annotated[Literal["pdf", "json", "csv"], Query(description="pdf, json or csv")] = "pdf",
) -> Response:
    """Art. 30 record of processing activities, from the purposes and collections."""
    report = service.ropa(session, rt, now=utcnow())
    audit.append(session, ctx, action="report.ropa", reason=f"format:{format}")
    return _answer(render.render(report, format), format, "record-of-processing")


@router.get("/requests", response_class=Response, responses=_content(("pdf", "json", "csv")))
def requests_report(
    ctx: DpoCtx,
    session: SessionDep,
    format: Annotated[Literal["pdf", "json", "csv"], Query(description="pdf, json or csv")] = "pdf",
) -> Response:
    """The data-subject request register: counts by type and state, on-time rate, median
    days to close, and the open requests past their deadline (ids, types, dates only)."""
    report = requests.requests_report(session, now=utcnow())
    audit.append(session, ctx, action="report.requests", reason=f"format:{format}")
    return _answer(requests.render(report, format), format, "request-register")
