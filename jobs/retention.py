"""The scheduled retention purge: every policy, in batches, recorded as a job run."""

from __future__ import annotations

from typing import Any

from privacy.context import Principal, RequestContext
from privacy.retention import service
from privacy.runtime import Runtime
from privacy.scheduling.models import JobRun

SCHEDULER = RequestContext(Principal(kind="system", id="scheduler"))


def run(rt: Runtime, run: JobRun) -> dict[str, Any]:
    return service.summary(service.purge(rt, SCHEDULER, run_id=run.id))
