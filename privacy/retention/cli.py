"""`privacy retention ...` commands (the typer wiring is in privacy/cli.py)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from privacy.config import Settings
from privacy.retention.policy import RetentionConfig, RetentionFileError, load_retention


def check_file(settings: Settings, console: Console) -> RetentionConfig | None:
    """Load the retention file, or print where it is wrong and return None."""
    try:
        return load_retention(settings.retention_file)
    except RetentionFileError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        return None


def show_policies(cfg: RetentionConfig, console: Console) -> None:
    table = Table(title=f"Retention policies ({cfg.source})")
    for col in ("id", "covers", "period", "trigger", "action"):
        table.add_column(col)
    for p in cfg.policies:
        covers = p.data or ", ".join(
            f"{kind}: {' '.join(names)}"
            for kind, names in (
                ("collections", p.collections),
                ("categories", p.categories),
                ("purposes", p.purposes),
            )
            if names
        )
        action = f"{p.action} ({', '.join(p.fields)})" if p.fields else p.action
        table.add_row(p.id, covers, p.period.text, p.trigger, action)
    console.print(table)
    if cfg.holds:
        holds = Table(title="Legal holds")
        for col in ("id", "covers", "period", "ground"):
            holds.add_column(col)
        for h in cfg.holds:
            covers = " ".join((*h.collections, *h.categories, *h.purposes))
            holds.add_row(h.id, covers, h.period.text if h.period else "until lifted", h.ground)
        console.print(holds)


def purge(settings: Settings, console: Console, *, dry_run: bool) -> int:
    """`privacy retention purge`: progress bars per policy, then a table of outcomes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from privacy.context import Principal, RequestContext
    from privacy.retention import service
    from privacy.runtime import build_runtime
    from privacy.scheduling.service import JobAlreadyRunning

    rt = build_runtime(settings)
    ctx = RequestContext(Principal(kind="system", id="cli"))
    tasks: dict[str, object] = {}
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as bar:

            def on_start(policy_id: str, planned: int) -> None:
                verb = "would purge" if dry_run else "purging"
                tasks[policy_id] = bar.add_task(f"{verb} {policy_id}", total=planned)
                if dry_run:
                    bar.update(tasks[policy_id], completed=planned)  # type: ignore[arg-type]

            def progress(policy_id: str, n: int) -> None:
                bar.advance(tasks[policy_id], n)  # type: ignore[arg-type]

            report = service.run_purge(
                rt, ctx, dry_run=dry_run, started_by="cli", progress=progress, on_start=on_start
            )
    except JobAlreadyRunning as exc:
        console.print(f"[yellow]{exc.detail}[/yellow]")
        return 3
    finally:
        rt.close()
    table = Table(title="Retention purge (dry run)" if dry_run else "Retention purge")
    for col in ("policy", "matched", "would purge" if dry_run else "purged", "held", "held by"):
        table.add_column(col)
    failed = 0
    for p in report.policies:
        held_by = ", ".join(f"{h.hold} ({h.count}: {h.ground})" for h in p.held_by)
        note = p.error and f"[red]failed: {p.error}[/red]"
        if not p.enforced:
            note = "[dim]not enforced in this build[/dim]"
        failed += bool(p.error)
        table.add_row(p.id, str(p.matched), str(p.purged), str(p.held), note or held_by)
    Console().print(table)
    return 1 if failed else 0
