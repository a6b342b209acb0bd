"""The tight loop of verification, and the row codec the chainer shares with it.

Imports nothing heavier than the standard library, so that worker processes (parallel
verification, `verify(workers=...)`) start in a fraction of a second. Rows are raw driver
tuples in ROW_COLUMNS order: SQLite gives `at` as text and `fields` as JSON text,
PostgreSQL a datetime and a list; both give the same canonical bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from privacy.audit import canonical as c

ROW_COLUMNS = ("id", "seq", "hash", "mac", *c.CONTENT_KEYS)
ENTRIES_SQL = (
    f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_log "  # noqa: S608
    "WHERE seq > {p} AND seq <= {p} ORDER BY seq LIMIT {p}"
)

# fetch(after, upto, n): up to n raw rows with after < seq <= upto, in seq order.
Fetch = Callable[[int, int, int], Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class Finding:
    kind: str  # "entry" | "seal"
    code: str
    reason: str
    id: int | None = None
    seq: int | None = None
    seal: int | None = None


def missing(seq: int) -> Finding:
    return Finding("entry", "missing", f"entry at position {seq} is missing (deleted)", None, seq)


class RowCodec:
    """Turns raw driver rows (ROW_COLUMNS order) into canonical content, on any backend.

    The hot loop of verification. Most of an entry is low-cardinality: the JSON of
    (action, actor, actor type) and of (collection, fields, outcome, purpose, reason) is
    built once per distinct combination, client IPs are memoised one by one, and only
    `at` and the ids are encoded for every row.
    """

    def __init__(self) -> None:
        self._heads: dict[tuple[Any, ...], str] = {}
        self._tails: dict[tuple[Any, ...], str] = {}
        self._ips: dict[Any, str] = {None: "null"}

    def content(self, row: Sequence[Any]) -> bytes:
        try:
            return self._content(row)
        except (TypeError, ValueError, AttributeError):
            # A row edited into something unreadable still links (and fails its MAC), so
            # that verification names it instead of crashing on it.
            return c.dumps({"unreadable": [str(v) for v in row[4:]]})

    def _content(self, row: Sequence[Any]) -> bytes:
        hk = (row[4], row[5], row[6])
        head = self._heads.get(hk) or self._head(hk)
        fields = row[10]
        if fields.__class__ is list:  # PostgreSQL hands JSON over decoded
            fields = tuple(fields)
        tk = (row[9], fields, row[11], row[12], row[13])
        tail = self._tails.get(tk) or self._tail(tk)
        ip = self._ips.get(row[8]) or self._ip(row[8])
        at = row[7]
        if at.__class__ is str and len(at) == 26:  # SQLite's spelling: the hot path
            at = f"{at[:10]}T{at[11:]}Z"
        else:
            at = c.text_time(at) if isinstance(at, str) else c.format_time(at)
        enc, rid, req, sub = c._enc, row[14], row[15], row[16]
        return (
            f'{head}{at}","client_ip":{ip}{tail}{"null" if rid is None else enc(rid)}'
            f',"request_id":{"null" if req is None else enc(req)}'
            f',"subject_id":{"null" if sub is None else enc(sub)}}}'
        ).encode("ascii")

    def _head(self, key: tuple[Any, ...]) -> str:
        action, actor, actor_type = (c._s(v) for v in key)
        head = f'{{"action":{action},"actor":{actor},"actor_type":{actor_type},"at":"'
        return _remember(self._heads, key, head)

    def _tail(self, key: tuple[Any, ...]) -> str:
        collection, fields, outcome, purpose, reason = key
        if isinstance(fields, str):
            fields = json.loads(fields)
        s = c._s
        tail = (
            f',"collection":{s(collection)},"fields":{c.fields_fragment(fields)},'
            f'"outcome":{s(outcome)},"purpose":{s(purpose)},"reason":{s(reason)},"record_id":'
        )
        return _remember(self._tails, key, tail)

    def _ip(self, ip: Any) -> str:
        return _remember(self._ips, ip, c._s(ip))


def _remember(memo: dict[Any, str], key: Any, value: str) -> str:
    if len(memo) > 100_000:  # bounded, whatever the data
        memo.clear()
    memo[key] = value
    return value


_REASONS = {
    "altered": "entry {id} (position {seq}): altered, or not written by the service",
    "unauthenticated": "entry {id} (position {seq}) has no MAC: not written by the service",
    "hash_mismatch": "entry {id} (position {seq}): hash mismatch: it, or the entry before it, "
    "was altered, moved or reordered",
    "seal_mismatch": "seal {seal} does not match position {seq}: entries up to it were "
    "rewritten after sealing",
}


def _finding(code: str, id_: int, seq: int, seal: int | None = None) -> Finding:
    kind = "seal" if seal is not None else "entry"
    reason = _REASONS[code].format(id=id_, seq=seq, seal=seal)
    return Finding(kind, code, reason, id_, seq, seal)


def walk(
    fetch: Fetch,
    seals: dict[int, list[Any]],
    floor: int,
    prev: bytes,
    limit: int,
    mac_key: bytes | None,
    batch: int,
    mac_seen: bool = False,
) -> tuple[Finding | None, int, int]:
    """Check positions floor+1..limit, starting from hash `prev`.

    Returns (first finding, last position seen, entries checked). The hashing and the MAC
    (canonical.link, entry_bytes and mac_hex) are inlined: this loop is the cost of a
    verification.
    """
    content_of, enc, sha256 = RowCodec().content, c._enc, hashlib.sha256
    inner, outer = c._pads(mac_key) if mac_key is not None else (None, None)
    expected, checked = floor + 1, 0
    while True:
        rows = fetch(expected - 1, limit, batch)
        for row in rows:
            id_, seq, stored, mac = row[0], row[1], row[2], row[3]
            if seq != expected:
                return missing(expected), expected - 1, checked
            content = content_of(row)
            if mac is not None:
                mac_seen = True
                if inner is not None:
                    i, o = inner.copy(), outer.copy()
                    i.update(content)
                    o.update(i.digest())
                    if o.hexdigest() != mac:
                        return _finding("altered", id_, seq), seq, checked
            elif mac_seen:
                return _finding("unauthenticated", id_, seq), seq, checked
            where = f',"id":{id_},"mac":{"null" if mac is None else enc(mac)},"seq":{seq}}}'
            digest = sha256(b"".join((prev, b'{"entry":', content, where.encode()))).digest()
            if digest.hex() != stored:
                return _finding("hash_mismatch", id_, seq), seq, checked
            for seal in seals.get(seq, ()):
                if seal[3] != stored:
                    return _finding("seal_mismatch", id_, seq, seal[0]), seq, checked
            prev, expected, checked = digest, expected + 1, checked + 1
        if len(rows) < batch:
            return None, expected - 1, checked


def cursor_fetch(dbapi_conn: Any, marker: str) -> Fetch:
    """A Fetch over a DBAPI connection (qmark "?" for sqlite3, "%s" for psycopg)."""
    sql = ENTRIES_SQL.format(p=marker)

    def fetch(after: int, upto: int, n: int) -> list[Any]:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(sql, (after, upto, n))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return fetch


def walk_range(job: tuple[Any, ...]) -> tuple[Finding | None, int, int]:
    """One range of a parallel verification, in a worker process, on its own connection."""
    url, lo, hi, prev, seals, mac_key, batch, seen = job
    if prev is None:
        return missing(lo), lo - 1, 0
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split(":///", 1)[1]
        conn: Any = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        marker = "?"
    else:
        import psycopg

        conn = psycopg.connect("postgresql://" + url.split("://", 1)[1])
        marker = "%s"
    try:
        return walk(
            cursor_fetch(conn, marker), seals, lo, bytes.fromhex(prev), hi, mac_key, batch, seen
        )
    finally:
        conn.close()
