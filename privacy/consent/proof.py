"""What makes the consent history provable: a canonical form and a per-subject hash chain.

Canonical form (also what receipts sign): the JSON object serialised with sorted keys, no
whitespace (`,` and `:` separators), UTF-8, non-ASCII characters kept as they are. Times
are RFC 3339 UTC with microseconds and a `Z` (e.g. `2026-01-02T03:04:05.000006Z`), ids are
lower-case UUID strings, a missing text hash is `null`.

An event's `hash` is SHA-256 (hex) of the canonical form of
`{id, subject_id, seq, purpose, granted, policy_version, source, text_hash, actor, at,
prev_hash}`, and `prev_hash` is the `hash` of the subject's previous event, or `GENESIS`
(64 zeros) for its first. Anyone holding a subject's history can recompute every hash and
link: an edited, removed, inserted or reordered event shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
_HASHED = (
    "id",
    "subject_id",
    "seq",
    "purpose",
    "granted",
    "policy_version",
    "source",
    "text_hash",
    "actor",
    "at",
    "prev_hash",
)


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hashed_fields(event: Any) -> dict[str, Any]:
    """The fields of a `ConsentEvent` (or anything with those attributes) that are hashed."""
    out = {name: getattr(event, name) for name in _HASHED}
    out["id"] = str(out["id"])
    out["subject_id"] = str(out["subject_id"])
    out["at"] = rfc3339(out["at"])
    return out


def event_hash(event: Any) -> str:
    return hashlib.sha256(canonical(hashed_fields(event))).hexdigest()


def first_break(events: Iterable[Any]) -> int | None:
    """The `seq` of the first event whose hash or link does not hold, or None if all do.

    `events` are one subject's events in `seq` order, starting at 1.
    """
    prev, expected_seq = GENESIS, 1
    for ev in events:
        if ev.seq != expected_seq or ev.prev_hash != prev or ev.hash != event_hash(ev):
            return ev.seq
        prev, expected_seq = ev.hash, expected_seq + 1
    return None
