"""Legal holds that keep records through an erasure (the `[[hold]]` entries of the
retention policy file, loaded by privacy.retention.policy and exposed as `rt.retention`).

A hold keeps a record when it covers the record's collection, one of the categories of the
fields the record holds, or a purpose that covers the collection, until
`created_at + period` (forever without a period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from privacy.runtime import Runtime


@dataclass(frozen=True)
class Keep:
    hold: str
    ground: str
    until: datetime


def config(rt: Runtime) -> Any:
    """The loaded retention configuration, or None when the service runs without one."""
    return getattr(rt, "retention", None)


def holds_configured(rt: Runtime) -> bool:
    cfg = config(rt)
    return bool(cfg is not None and getattr(cfg, "holds", None))


def keeps(
    rt: Runtime,
    collection: str,
    categories: set[str],
    created_at: datetime,
    now: datetime,
    purposes: tuple[str, ...] = (),
) -> list[Keep]:
    """The holds that keep one record now (empty: it may be erased)."""
    cfg = config(rt)
    if cfg is None:
        return []
    found = cfg.holds_for(collection, sorted(categories), created_at, now, purposes)
    return [Keep(h.id, h.ground, until) for h, until in found if until > now]
