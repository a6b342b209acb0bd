"""Scheduled reports: the retention report and the record of processing, written as PDF and
JSON to `$PRIVACY_DATA_DIR/reports/` (created 0700; the files hold counts, no values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privacy.db import new_session, utcnow
from privacy.reports import render, service
from privacy.runtime import Runtime


def write_all(rt: Runtime, directory: Path | None = None) -> list[Path]:
    out_dir = directory or rt.settings.data_dir / "reports"
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = utcnow()
    stamp = now.strftime("%Y-%m-%d")
    written = []
    with new_session(rt.engine) as session:
        reports = {
            "retention": service.retention_report(session, rt, now=now),
            "ropa": service.ropa(session, rt, now=now),
        }
    for name, report in reports.items():
        for fmt in ("pdf", "json"):
            path = out_dir / f"{name}-{stamp}.{fmt}"
            tmp = path.with_suffix(f".{fmt}.part")
            tmp.write_bytes(render.render(report, fmt))
            tmp.replace(path)  # a reader never sees half a report
            written.append(path)
    return written


def run(rt: Runtime, job_run: Any) -> dict[str, Any]:
    return {"files": len(write_all(rt))}
