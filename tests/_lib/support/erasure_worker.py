"""Run one erasure in a separate process, as a worker would, announcing every committed
batch on stdout (the crash test kills it with SIGKILL part-way through).

    python -m support.erasure_worker <subject id> <batch size>

Settings come from PRIVACY_* environment variables.
"""

from __future__ import annotations

import sys
import time
import uuid

from privacy.config import Settings
from privacy.context import SYSTEM, RequestContext
from privacy.db import new_session
from privacy.erasure.service import run_erasure
from privacy.runtime import build_runtime


def main() -> None:
    subject_id, batch = uuid.UUID(sys.argv[1]), int(sys.argv[2])
    rt = build_runtime(Settings(_env_file=None))  # type: ignore[call-arg]

    def announce(n: int) -> None:
        print(f"batch {n}", flush=True)
        time.sleep(0.05)  # widen the window in which the parent's SIGKILL lands

    ctx = RequestContext(principal=SYSTEM, request_id="crash-test")
    with new_session(rt.engine) as session:
        run_erasure(session, rt, ctx, subject_id, batch_size=batch, on_batch=announce)
    print("done", flush=True)


if __name__ == "__main__":
    main()
