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
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, text

from privacy.audit import canonical as c
from privacy.audit.chain import ROW_COLUMNS, RowCodec

_ENTRIES = (
    f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_log "  # noqa: S608
    "WHERE seq > {p} AND seq <= {p} ORDER BY seq LIMIT {p}"
)
_CHECKPOINTS = text(
    "SELECT number, kind, seq, hash, count, at, prev, signature FROM audit_checkpoints "
    "ORDER BY number"
)
_PENDING = text("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
_NO_LIMIT = 2**62

Connect = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class Finding:
    kind: str  # "entry" | "seal"
    code: str
    reason: str
    id: int | None = None
    seq: int | None = None
    seal: int | None = None


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
) -> VerifyResult:
    """Verify the log (through position `upto`, default all). `connect()` opens a
    connection; each batch of entries is read in its own short transaction."""
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


def _fetch(conn: Connection, after: int, upto: int, n: int) -> list[Any]:
    """One batch of raw rows straight from the driver (no Row objects: ~25% faster)."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_ENTRIES.format(p=marker), (after, upto, n))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _walk(
    connect: Connect,
    seals: dict[int, list[Any]],
    floor: int,
    prev: bytes,
    limit: int,
    mac_key: bytes | None,
    batch: int,
) -> tuple[Finding | None, int, int]:
    """The tight loop. Returns (first finding, last position seen, entries checked)."""
    codec = RowCodec()
    content_of, entry_bytes, link, mac_hex = codec.content, c.entry_bytes, c.link, c.mac_hex
    expected, checked, mac_seen = floor + 1, 0, False
    while True:
        with connect() as conn:
            rows = _fetch(conn, expected - 1, limit, batch)
        for row in rows:
            id_, seq, stored, mac = row[0], row[1], row[2], row[3]
            if seq != expected:
                reason = f"entry at position {expected} is missing (deleted)"
                if expected == floor + 1:
                    reason += " or the log was cut without a purge anchor"
                return Finding("entry", "missing", reason, None, expected), expected - 1, checked
            content = content_of(row)
            if mac is not None:
                mac_seen = True
                if mac_key is not None and mac != mac_hex(mac_key, content):
                    reason = f"entry {id_} (position {seq}): altered, or not written by the service"
                    return Finding("entry", "altered", reason, id_, seq), seq, checked
            elif mac_seen:
                reason = f"entry {id_} (position {seq}) has no MAC: not written by the service"
                return Finding("entry", "unauthenticated", reason, id_, seq), seq, checked
            digest = link(prev, entry_bytes(content, id=id_, mac=mac, seq=seq))
            if digest.hex() != stored:
                reason = (
                    f"entry {id_} (position {seq}): hash mismatch: it, or the entry before it, "
                    "was altered, moved or reordered"
                )
                return Finding("entry", "hash_mismatch", reason, id_, seq), seq, checked
            for seal in seals.get(seq, ()):
                if seal[3] != stored:
                    reason = (
                        f"seal {seal[0]} does not match position {seq}: entries up to "
                        "it were rewritten after sealing"
                    )
                    return Finding("seal", "seal_mismatch", reason, id_, seq, seal[0]), seq, checked
            prev, expected, checked = digest, expected + 1, checked + 1
        if len(rows) < batch:
            return None, expected - 1, checked
