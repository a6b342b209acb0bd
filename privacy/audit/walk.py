"""The tight loop of verification, and the row codec the chainer shares with it.

Imports nothing heavier than the standard library, so that worker processes (parallel
verification, `verify(workers=...)`) start in a fraction of a second. Rows are raw driver
tuples in ROW_COLUMNS order: SQLite gives `at` as text and `fields` as JSON text,
PostgreSQL a datetime and a list; both give the same canonical bytes.
"""

from __future__ import annotations

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

    The hot loop of verification. Most of an entry is low-cardinality (action, actor,
    actor type, client IP, collection, fields, outcome, purpose, reason): the JSON around
    `at` and the three ids is built once per distinct combination and reused.
    """

    def __init__(self) -> None:
        self._shapes: dict[tuple[Any, ...], tuple[str, str]] = {}

    def content(self, row: Sequence[Any]) -> bytes:
        try:
            return self._content(row)
        except (TypeError, ValueError, AttributeError):
            # A row edited into something unreadable still links (and fails its MAC), so
            # that verification names it instead of crashing on it.
            return c.dumps({"unreadable": [str(v) for v in row[4:]]})

    def _content(self, row: Sequence[Any]) -> bytes:
        fields = row[10]
        if fields.__class__ is list:  # PostgreSQL hands JSON over decoded
            fields = tuple(fields)
        key = (row[4], row[5], row[6], row[8], row[9], fields, row[11], row[12], row[13])
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(key)
        at = row[7]
        if at.__class__ is str and len(at) == 26:  # SQLite's spelling: the hot path
            at = f"{at[:10]}T{at[11:]}Z"
        else:
            at = c.text_time(at) if isinstance(at, str) else c.format_time(at)
        enc, rid, req, sub = c._enc, row[14], row[15], row[16]
        return (
            f"{shape[0]}{at}{shape[1]}{'null' if rid is None else enc(rid)}"
            f',"request_id":{"null" if req is None else enc(req)}'
            f',"subject_id":{"null" if sub is None else enc(sub)}}}'
        ).encode("ascii")

    def _shape(self, key: tuple[Any, ...]) -> tuple[str, str]:
        action, actor, actor_type, ip, collection, fields, outcome, purpose, reason = key
        if isinstance(fields, str):
            fields = json.loads(fields)
        s = c._s
        head = f'{{"action":{s(action)},"actor":{s(actor)},"actor_type":{s(actor_type)},"at":"'
        middle = (
            f'","client_ip":{s(ip)},"collection":{s(collection)},'
            f'"fields":{c.fields_fragment(fields)},"outcome":{s(outcome)},'
            f'"purpose":{s(purpose)},"reason":{s(reason)},"record_id":'
        )
        if len(self._shapes) > 100_000:
            self._shapes.clear()
        self._shapes[key] = (head, middle)
        return head, middle


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

    Returns (first finding, last position seen, entries checked).
    """
    codec = RowCodec()
    content_of, entry_bytes, link, mac_hex = codec.content, c.entry_bytes, c.link, c.mac_hex
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
