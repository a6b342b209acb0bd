from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from privacy.deps import AdminOrDpoCtx, RuntimeDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.retention import service
from privacy.retention.schemas import HoldRead, PoliciesRead, PolicyRead, PurgeRead

router = APIRouter(prefix="/v1/retention", tags=["retention"], responses=PROBLEM_RESPONSES)


@router.get("/policies", response_model=PoliciesRead)
def list_policies(rt: RuntimeDep, ctx: AdminOrDpoCtx) -> PoliciesRead:
    """The retention policies and legal holds in force."""
    cfg = rt.retention
    return PoliciesRead(
        source=cfg.source,
        policies=[PolicyRead(**p.as_dict()) for p in cfg.policies],
        holds=[HoldRead(**h.as_dict()) for h in cfg.holds],
    )


@router.post("/purge", response_model=PurgeRead)
def purge(
    rt: RuntimeDep,
    ctx: AdminOrDpoCtx,
    dry_run: Annotated[bool, Query(description="Report what would go; change nothing.")] = False,
) -> PurgeRead:
    """Run the retention purge now (409 while it runs elsewhere)."""
    report = service.run_purge(rt, ctx, dry_run=dry_run, started_by="api")
    return PurgeRead(
        dry_run=report.dry_run,
        at=report.at.isoformat().replace("+00:00", "Z"),
        policies=[asdict(p) for p in report.policies],  # type: ignore[misc]
    )
