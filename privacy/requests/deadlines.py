"""Art. 12(3) deadlines: one calendar month from receipt, extendable once by up to two."""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta


def due_after(received: datetime, months: int = 1) -> datetime:
    """`months` calendar months later; the end of a shorter month clamps (31 Jan -> 28/29 Feb)."""
    return received + relativedelta(months=months)


def effective_due(due_at: datetime, extended_until: datetime | None) -> datetime:
    return extended_until or due_at
