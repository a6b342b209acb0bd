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
