"""How an erased subject that is kept for a legal hold is recognised, with no extra query:
its external-id index is replaced by this prefix and the subject id (a value no blind
index digest can take, since those are 64 hex characters)."""

from __future__ import annotations

from typing import Any

ERASED_PREFIX = "erased:"


def is_erased(subject: Any) -> bool:
    return str(subject.external_id_index).startswith(ERASED_PREFIX)
