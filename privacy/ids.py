"""Identifiers for rows that are written in time order and expire in time order.

Record ids are UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random
bits. Rows written together sit together in every index keyed by id (the primary key,
the blind index's record_id), so a retention purge, which takes the oldest records,
rewrites a few contiguous index pages per batch instead of one random page per row;
inserts append instead of splitting pages all over the tree. On SQLite that was the
larger part of a purge's cost (bench/README.md, `purge`).

A v7 id tells its creation time to the millisecond. Records already return their
`created_at`, so nobody who sees a record id learns more than the record says. Subject
ids stay random (UUIDv4): a subject's id is shared more widely than its records.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime

_VERSION = 0x7 << 76
_VARIANT = 0x2 << 62
_RAND_A = (1 << 12) - 1  # the 12 random bits after the version
_RAND_B = (1 << 62) - 1  # the 62 random bits after the variant


def uuid7(at: datetime | None = None) -> uuid.UUID:
    """A new UUIDv7 for now, or for `at` (rows loaded with their original times)."""
    ms = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    rand = secrets.randbits(74)
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | _VERSION
        | ((rand >> 62) & _RAND_A) << 64
        | _VARIANT
        | (rand & _RAND_B)
    )
    return uuid.UUID(int=value)
