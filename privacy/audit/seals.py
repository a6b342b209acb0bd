"""Seals and purge anchors: signed checkpoints of the chain, and the log's own retention.

A seal signs the chain head (position, hash, entries since the previous checkpoint, time)
with a Vault transit ed25519 key. Retention purges whole sealed segments: entries up to a
seal older than the cutoff are deleted and a signed purge anchor records the position and
hash they ended at, so what remains still verifies from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, select

import kms
from privacy.audit import canonical as c
from privacy.audit import chain
from privacy.audit.models import AuditCheckpoint
from privacy.audit.verify import VerifyResult, load_public_keys, verify
from privacy.db import new_session, utcnow

log = logging.getLogger("privacy.audit.seals")

_DELETE_CHUNK = 50_000


@dataclass(frozen=True)
class Signer:
    transit: kms.TransitClient
    key_name: str

    def sign(self, payload: bytes) -> str:
        return self.transit.sign(self.key_name, payload)

    def public_keys(self) -> dict[int, str]:
        return self.transit.public_keys(self.key_name)


def _last(session: Session) -> AuditCheckpoint | None:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc())  # type: ignore[attr-defined]
    return session.exec(query.limit(1)).first()


def payload_of(cp: AuditCheckpoint) -> bytes:
    """The bytes its signature covers (canonical.checkpoint_payload)."""
    return c.checkpoint_payload(
        number=cp.number,
        kind=cp.kind,
        seq=cp.seq,
        hash=cp.hash,
        count=cp.count,
        at=cp.at,
        prev=cp.prev,
    )


def _append_checkpoint(
    session: Session, signer: Signer, *, kind: str, seq: int, hash: str, count: int
) -> AuditCheckpoint:
    last = _last(session)
    cp = AuditCheckpoint(
        number=(last.number + 1) if last else 1,
        kind=kind,
        seq=seq,
        hash=hash,
        count=count,
        at=utcnow(),
        prev=c.payload_digest(payload_of(last)) if last else c.ZERO_HEX,
        signature="",
    )
    cp.signature = signer.sign(payload_of(cp))
    session.add(cp)
    session.flush()
    return cp


def seal(engine: Engine, signer: Signer, *, force: bool = True) -> AuditCheckpoint | None:
    """Link what is committed, then sign the head. Without `force`, only if it moved."""
    chain.chain(engine)
    with new_session(engine) as session:
        conn = session.connection()
        chain.lock(conn)
        top = chain.head(conn)
        last = _last(session)
        if last is not None and last.seq > top.seq:
            raise chain.ChainBroken(f"the chain ends at seq {top.seq}, before its last seal")
        if not force and last is not None and last.seq == top.seq:
            return None
        cp = _append_checkpoint(
            session,
            signer,
            kind="seal",
            seq=top.seq,
            hash=top.hash.hex(),
            count=top.seq - (last.seq if last else 0),
        )
        session.commit()
    log.info("audit sealed: checkpoint %d at position %d", cp.number, cp.seq)
    return cp


def latest_seal_at(engine: Engine) -> datetime | None:
    with new_session(engine) as session:
        last = _last(session)
        return last.at if last else None


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    through_seq: int
    checkpoint: int | None = None
    refused: VerifyResult | None = None


def purge(
    engine: Engine, signer: Signer, *, older_than: datetime, mac_key: bytes | None
) -> PurgeResult:
    """Delete the entries of every segment sealed before `older_than`.

    What would be deleted is verified first, outside the lock (requests are not held up):
    a log that fails verification is not purged, since that would destroy the evidence,
    and the failed result is returned in `refused`.
    """
    chain.chain(engine)
    with new_session(engine) as session:
        floor, target = _purge_target(session, older_than)
    if target is None:
        return PurgeResult(0, floor)
    keys = load_public_keys(signer.public_keys())
    checked = verify(engine.connect, public_keys=keys, mac_key=mac_key, upto=target.seq)
    if not checked.ok:
        return PurgeResult(0, floor, refused=checked)
    with new_session(engine) as session:
        conn = session.connection()
        chain.lock(conn)
        floor, again = _purge_target(session, older_than)
        if again is None or again.number != target.number:
            return PurgeResult(0, floor)  # another replica purged meanwhile
        purged = _delete_through(conn, floor, target.seq)
        cp = _append_checkpoint(
            session, signer, kind="purge", seq=target.seq, hash=target.hash, count=purged
        )
        session.commit()
    log.info("audit purge: %d entries through position %d", purged, target.seq)
    return PurgeResult(purged, target.seq, cp.number)


def _purge_target(session: Session, older_than: datetime) -> tuple[int, AuditCheckpoint | None]:
    """The last purge position, and the newest seal before `older_than` beyond it."""
    last_purge = session.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.kind == "purge")
        .order_by(AuditCheckpoint.number.desc())  # type: ignore[attr-defined]
    ).first()
    floor = last_purge.seq if last_purge else 0
    target = session.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.kind == "seal")
        .where(AuditCheckpoint.at < older_than)
        .where(AuditCheckpoint.seq > floor)
        .order_by(AuditCheckpoint.number.desc())  # type: ignore[attr-defined]
    ).first()
    return floor, target


def _delete_through(conn: Connection, floor: int, through: int) -> int:
    purged = 0
    for start in range(floor, through, _DELETE_CHUNK):
        end = min(start + _DELETE_CHUNK, through)
        res = conn.execute(
            text("DELETE FROM audit_log WHERE seq > :a AND seq <= :b"), {"a": start, "b": end}
        )
        purged += max(res.rowcount, 0)
    return purged
