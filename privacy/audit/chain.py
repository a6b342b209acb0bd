"""Linking entries into the hash chain, and the per-entry MAC written on insert.

Requests never wait for the chain: they only insert entries (in their own transaction, as
before). The chainer links committed, unlinked entries in batches: it assigns the next
`seq` and hash to each under one lock that only chainers, sealers and purges take
(`pg_advisory_xact_lock` on PostgreSQL; SQLite's write lock, taken by `BEGIN IMMEDIATE`,
already serialises writers). Because positions are given at link time rather than by the
id, an entry whose transaction commits late (a lower id after a higher one) simply gets a
later position; nothing committed is skipped and nothing uncommitted is seen.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from privacy.audit import canonical as c
from privacy.audit.models import AuditEntry
from privacy.audit.walk import ROW_COLUMNS, RowCodec

__all__ = ["ROW_COLUMNS", "ChainBroken", "RowCodec", "chain", "head", "lock"]

log = logging.getLogger("privacy.audit.chain")

# pg_advisory_xact_lock key of the chain ("privaudt"); requests never take it.
CHAIN_LOCK = 0x7072697661756474
MAC_KEY_NAME = "audit-entry-mac-v1"

_COLS = ", ".join(ROW_COLUMNS)
_UNCHAINED = text(f"SELECT {_COLS} FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT :n")  # noqa: S608
_LINK = text("UPDATE audit_log SET seq = :seq, hash = :hash WHERE id = :id AND seq IS NULL")
_HEAD = text("SELECT seq, hash, mac FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
_LAST_CHECKPOINT = text(
    "SELECT number, kind, seq, hash FROM audit_checkpoints ORDER BY number DESC LIMIT 1"
)
_LAST_PURGE = text(
    "SELECT seq, hash FROM audit_checkpoints WHERE kind = 'purge' ORDER BY number DESC LIMIT 1"
)


class ChainBroken(RuntimeError):
    """The chain's head is behind a signed checkpoint: sealed entries were deleted."""


# --- the MAC key, looked up by engine so that `audit.append(session, ...)` needs no key --

_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_keys_by_url: dict[str, bytes] = {}


def register_mac_key(engine: Engine, key: bytes) -> None:
    """Entries inserted through `engine` (or another engine on the same URL) get a MAC."""
    _keys[engine] = key
    _keys_by_url[engine.url.render_as_string(hide_password=False)] = key


def mac_key_for(engine: Engine) -> bytes | None:
    key = _keys.get(engine)
    if key is None:
        key = _keys_by_url.get(engine.url.render_as_string(hide_password=False))
    return key


@event.listens_for(AuditEntry, "before_insert")
def _mac_on_insert(_mapper: Any, connection: Connection, target: AuditEntry) -> None:
    key = mac_key_for(connection.engine)
    if key is None:
        # Fail closed: an entry nobody can authenticate is not written, nor is the access.
        raise RuntimeError("the audit MAC key is not loaded (build_runtime loads it)")
    target.mac = c.mac_of(key, c.entry_fragments(target))


def lock(conn: Connection, *, wait: bool = True) -> bool:
    """Take the chain lock for the current transaction (False: another holder, no wait)."""
    if conn.dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    got = conn.execute(text(f"SELECT {fn}(:k)"), {"k": CHAIN_LOCK}).scalar()
    return got is not False


@dataclass(frozen=True)
class Head:
    seq: int
    hash: bytes
    # Entries written before MACs existed (schema 0001) may lack one, but only before the
    # first entry that has one: a MAC-less entry after it was not written by the service.
    mac_seen: bool = False


def head(conn: Connection) -> Head:
    """The last linked position: the newest entry, else the purge anchor, else genesis."""
    row = conn.execute(_HEAD).first()
    if row is not None:
        return Head(int(row[0]), bytes.fromhex(row[1]), row[2] is not None)
    row = conn.execute(_LAST_PURGE).first()
    if row is not None:
        return Head(int(row[0]), bytes.fromhex(row[1]))
    return Head(0, c.GENESIS)


def last_checkpoint_seq(conn: Connection) -> int:
    row = conn.execute(_LAST_CHECKPOINT).first()
    return int(row[2]) if row else 0


Observer = Callable[[list[Sequence[Any]], list[int]], None]


def chain(
    engine: Engine,
    *,
    batch: int = 1000,
    wait: bool = True,
    max_batches: int | None = None,
    observe: Observer | None = None,
) -> int:
    """Link every committed, unlinked entry; returns how many were linked.

    `observe(rows, bad_mac_ids)` sees each linked batch (the security monitor). Raises
    ChainBroken, linking nothing, if the head is behind a checkpoint (truncation).
    """
    key = mac_key_for(engine)
    codec = RowCodec()
    total = rounds = 0
    while max_batches is None or rounds < max_batches:
        rounds += 1
        with engine.begin() as conn:
            if not lock(conn, wait=wait):
                return total
            rows = conn.execute(_UNCHAINED, {"n": batch}).all()
            if not rows:
                return total
            top = head(conn)
            if last_checkpoint_seq(conn) > top.seq:
                raise ChainBroken(f"the chain ends at seq {top.seq}, before its last seal")
            updates, bad = [], []
            prev, seq, mac_seen = top.hash, top.seq, top.mac_seen
            for row in rows:
                seq += 1
                content = codec.content(row)
                if row[3] is not None:
                    mac_seen = True
                    if key is not None and row[3] != c.mac_hex(key, content):
                        bad.append(int(row[0]))
                elif mac_seen:
                    bad.append(int(row[0]))
                prev = c.link(prev, c.entry_bytes(content, id=row[0], mac=row[3], seq=seq))
                updates.append({"id": row[0], "seq": seq, "hash": prev.hex()})
            conn.execute(_LINK, updates)
        total += len(rows)
        if observe is not None:
            observe(rows, bad)
        if len(rows) < batch:
            return total
    return total


def prepare_keys(engine: Engine, transit: Any, settings: Any) -> bytes:
    """At start-up: the seal-signing key exists in Vault, and the MAC key is loaded."""
    from privacy.keys import service as keys_service

    transit.ensure_key(settings.audit_signing_key, key_type="ed25519")
    key = keys_service.load_or_create(
        engine, transit, vault_key=settings.service_key_name, name=MAC_KEY_NAME
    )
    register_mac_key(engine, key)
    return key
