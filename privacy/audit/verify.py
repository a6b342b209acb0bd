"""End-to-end verification of the audit log: checkpoints, then every retained entry.

Checks, naming the first failure:
- checkpoints are numbered 1, 2, 3..., each `prev` is the digest of the one before, and
  each signature verifies under the Vault key's public key (no Vault call per seal);
- retained entries start right after the last purge anchor and run without gaps; each
  entry's MAC matches its content (online only); each hash is SHA-256(previous || entry);
- every seal's hash equals the chain's hash at its position, and no checkpoint names a
  position beyond the last entry (truncation).
"""

from __future__ import annotations

import base64
import itertools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, text

from privacy.audit import canonical as c
from privacy.audit.walk import Finding, cursor_fetch, missing, walk, walk_range

_CHECKPOINTS = text(
    "SELECT number, kind, seq, hash, count, at, prev, signature FROM audit_checkpoints "
    "ORDER BY number"
)
_PENDING = text("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
_TOP = text("SELECT MAX(seq) FROM audit_log WHERE seq <= :upto")
_HASH_AT = text("SELECT hash FROM audit_log WHERE seq = :s")
_MAC_BEFORE = text(
    "SELECT 1 FROM audit_log WHERE seq > :f AND seq <= :s AND mac IS NOT NULL LIMIT 1"
)
_NO_LIMIT = 2**62

Connect = Callable[[], AbstractContextManager[Connection]]


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    seals_checked: int
    head_seq: int
    sealed_seq: int
    pending: int
    first_bad: Finding | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_public_keys(b64_by_version: dict[int, str]) -> dict[int, Ed25519PublicKey]:
    return {
        v: Ed25519PublicKey.from_public_bytes(base64.b64decode(k))
        for v, k in b64_by_version.items()
    }


def signature_ok(keys: dict[int, Ed25519PublicKey], payload: bytes, signature: str) -> bool:
    """Check a transit signature (`vault:vN:<base64>`) offline."""
    try:
        prefix, version, sig = signature.split(":", 2)
        key = keys[int(version.removeprefix("v"))]
        if prefix != "vault":
            return False
        key.verify(base64.b64decode(sig, validate=True), payload)
        return True
    except (ValueError, KeyError, InvalidSignature):
        return False


def _time(value: Any) -> str:
    return c.text_time(value) if isinstance(value, str) else c.format_time(value)


def _check_checkpoints(rows: list[Any], keys: dict[int, Ed25519PublicKey]) -> Finding | None:
    prev = c.ZERO_HEX
    for i, r in enumerate(rows, start=1):
        number, kind, seq, hash_, count, at, prev_field, sig = r
        where = {"kind": "seal", "seal": number, "seq": seq}
        if number != i or prev_field != prev:
            gone = "deleted" if number != i else "altered, inserted or deleted"
            reason = f"checkpoint {number}: the checkpoint chain is broken (one was {gone})"
            return Finding(code="checkpoint_chain", reason=reason, **where)
        payload = c.checkpoint_payload(
            number=number, kind=kind, seq=seq, hash=hash_, count=count, at=_time(at), prev=prev
        )
        if not signature_ok(keys, payload, sig):
            reason = f"checkpoint {number}: bad signature (altered or forged)"
            return Finding(code="bad_signature", reason=reason, **where)
        prev = c.payload_digest(payload)
    return None


def verify(
    connect: Connect,
    *,
    public_keys: dict[int, Ed25519PublicKey],
    mac_key: bytes | None,
    upto: int | None = None,
    batch: int = 20_000,
    workers: int = 1,
    url: str | None = None,
    parallel_min: int = 200_000,
) -> VerifyResult:
    """Verify the log (through position `upto`, default all). `connect()` opens a
    connection; each batch of entries is read in its own short transaction.

    With `workers` > 1 and the database `url`, a log of at least `parallel_min` entries is
    checked in ranges by that many processes: each range starts from the stored hash
    before it, and all ranges passing means the whole chain links.
    """
    with connect() as conn:
        cps = conn.execute(_CHECKPOINTS).all()
        pending = int(conn.execute(_PENDING).scalar_one())
    sealed = max((int(r[2]) for r in cps), default=0)
    result = VerifyResult(False, 0, 0, 0, sealed, pending)
    bad = _check_checkpoints(cps, public_keys)
    if bad is not None:
        result.first_bad = bad
        return result
    result.seals_checked = len(cps)
    purges = [r for r in cps if r[1] == "purge"]
    floor, prev = (int(purges[-1][2]), bytes.fromhex(purges[-1][3])) if purges else (0, c.GENESIS)
    seals: dict[int, list[Any]] = {}
    for r in cps:
        if r[1] == "seal" and r[2] > floor:
            seals.setdefault(int(r[2]), []).append(r)
    limit = _NO_LIMIT if upto is None else upto
    if workers > 1 and url is not None:
        span = _Span(url, floor, prev, limit, mac_key, batch)
        bad, last, checked = _walk_parallel(connect, span, seals, workers, parallel_min)
    else:
        bad, last, checked = _walk(connect, seals, floor, prev, limit, mac_key, batch)
    result.checked, result.head_seq = checked, last
    if bad is None:
        beyond = [r for r in cps if r[2] > last and r[2] <= limit]
        if beyond:
            r = beyond[0]
            bad = Finding(
                kind="entry",
                code="truncated",
                reason=f"checkpoint {r[0]} names position {r[2]}, but the log ends at "
                f"{last}: sealed entries from position {last + 1} were deleted",
                seq=last + 1,
                seal=int(r[0]),
            )
    result.first_bad = bad
    result.ok = bad is None
    return result


@dataclass(frozen=True)
class _Span:
    url: str
    floor: int
    prev: bytes
    limit: int
    mac_key: bytes | None
    batch: int


def _walk_parallel(
    connect: Connect, span: _Span, seals: dict[int, list[Any]], workers: int, minimum: int
) -> tuple[Finding | None, int, int]:
    with connect() as conn:
        top = conn.execute(_TOP, {"upto": span.limit}).scalar() or span.floor
    if top - span.floor < minimum:
        return _walk(connect, seals, span.floor, span.prev, span.limit, span.mac_key, span.batch)
    n = workers * 4  # more ranges than processes, so that none waits on a slow one
    bounds = sorted({span.floor + (top - span.floor) * i // n for i in range(n + 1)})
    jobs = []
    with connect() as conn:
        for lo, hi in itertools.pairwise(bounds):
            if lo == span.floor:
                prev, seen = span.prev.hex(), False
            else:
                row = conn.execute(_HASH_AT, {"s": lo}).first()
                prev = row[0] if row else None
                seen = conn.execute(_MAC_BEFORE, {"f": span.floor, "s": lo}).first() is not None
            mine = {s: [tuple(r) for r in v] for s, v in seals.items() if lo < s <= hi}
            jobs.append((span.url, lo, hi, prev, mine, span.mac_key, span.batch, seen))
    context = multiprocessing.get_context("spawn")  # never fork a threaded server
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        results = list(pool.map(walk_range, jobs))
    checked = 0
    for (bad, last, done), job in zip(results, jobs, strict=True):
        checked += done
        if bad is None and last < job[2]:
            bad = missing(last + 1)  # the range's last entries are gone
        if bad is not None:
            return bad, last, checked
    return None, top, checked


def _walk(
    connect: Connect,
    seals: dict[int, list[Any]],
    floor: int,
    prev: bytes,
    limit: int,
    mac_key: bytes | None,
    batch: int,
) -> tuple[Finding | None, int, int]:
    """walk() in this process, each batch in a short transaction of its own."""

    def fetch(after: int, upto: int, n: int) -> list[Any]:
        with connect() as conn:
            marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            dbapi = conn.connection.dbapi_connection
            return list(cursor_fetch(dbapi, marker)(after, upto, n))

    return walk(fetch, seals, floor, prev, limit, mac_key, batch)
