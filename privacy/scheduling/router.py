from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from privacy.deps import AdminOrDpoCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.scheduling import service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)


class JobRunRead(BaseModel):
    id: str
    job: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str = Field(description="running, ok, error, skipped or interrupted")
    counts: dict[str, Any]
    error: str | None
    host: str


class JobRead(BaseModel):
    name: str
    description: str
    schedule: str | None = Field(description="Crontab line (UTC) or `every N` seconds; null: off.")
    next_run_at: datetime | None
    last_run: JobRunRead | None
    last_success_at: datetime | None


class JobsRead(BaseModel):
    scheduler_running: bool = Field(description="Whether this process runs the scheduler.")
    items: list[JobRead]
    recent_runs: list[JobRunRead]


def _run(r: Any) -> JobRunRead:
    return JobRunRead(**{**r.model_dump(), "id": str(r.id)})


@router.get("", response_model=JobsRead)
def list_jobs(
    rt: RuntimeDep,
    ctx: AdminOrDpoCtx,
    session: SessionDep,
    runs: Annotated[int, Query(ge=0, le=1000, description="How many recent runs to list.")] = 20,
) -> JobsRead:
    """Scheduled jobs with their last and next runs and outcomes."""
    next_runs = service.live_next_runs()
    items = [
        JobRead(
            name=j.name,
            description=j.description,
            schedule=j.schedule,
            next_run_at=j.next_run_at,
            last_run=_run(j.last_run) if j.last_run else None,
            last_success_at=j.last_success_at,
        )
        for j in service.status(session, rt, next_runs=next_runs)
    ]
    recent = [_run(r) for r in service.recent_runs(session, job=None, limit=runs)]
    return JobsRead(scheduler_running=next_runs is not None, items=items, recent_runs=recent)
