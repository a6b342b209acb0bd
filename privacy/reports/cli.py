"""`privacy report ...` (the typer wiring is in privacy/cli.py)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from privacy.config import Settings


def write(settings: Settings, console: Console, kind: str, fmt: str, output: str, days: int) -> int:
    from privacy.db import new_session, utcnow
    from privacy.reports import render, service
    from privacy.runtime import build_runtime

    rt = build_runtime(settings)
    try:
        with console.status(f"building the {kind} report"), new_session(rt.engine) as session:
            now = utcnow()
            if kind == "requests":
                from privacy.reports import requests

                body = requests.render(requests.requests_report(session, now=now), fmt)
            else:
                report = (
                    service.retention_report(session, rt, now=now, days=days)
                    if kind == "retention"
                    else service.ropa(session, rt, now=now)
                )
                body = render.render(report, fmt)
    finally:
        rt.close()
    Path(output).write_bytes(body)
    console.print(f"[green]wrote {output} ({len(body):,} bytes)[/green]")
    return 0
