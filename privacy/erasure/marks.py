"""How an erased subject that is kept for a legal hold is recognised, with no extra query:
its external-id index is replaced by this prefix and the subject id (a value no blind
index digest can take, since those are 64 hex characters)."""

from __future__ import annotations

from typing import Any

ERASED_PREFIX = "erased:"


def is_erased(subject: Any) -> bool:
    return is_erased_index(subject.external_id_index)


def is_erased_index(external_id_index: Any) -> bool:
    return str(external_id_index).startswith(ERASED_PREFIX)
