"""Erasure of a data subject (GDPR Art. 17), with proof, legal holds and Art. 19 notices.

What `erase_subject` does, in this order:
1. Records the erasure (state row, audit entry) and writes a `pending` tombstone to Vault
   *before* deleting anything (privacy.erasure.tombstones): from then on neither a crash
   nor a database restore can leave the subject half-erased for good.
2. Deletes the subject's records and their blind-index rows in batches, each committed
   with its counts, so that a crash loses at most one batch and a rerun resumes.
   Records under a legal hold are skipped (still sealed, no longer searchable).
3. Deletes the subject's consent ledger and state, then either
   - deletes the subject row, and with it the only copy of its wrapped DEK
     (crypto-shredding: every ciphertext of the subject, in backups too, is now noise
     to anyone who restores the database after the backup retention has run out), or
   - when a hold kept records, keeps the row and its DEK (the held records must stay
     readable for the hold's purpose), scrubs its identifiers, restricts processing to
     `legal_claims` (Art. 18), and destroys the DEK once the last hold ends
     (`destroy_expired_holds`, for the scheduler).
4. Signs a receipt with the Vault-held receipt key, queues webhooks to the apps that held
   the subject, and updates the tombstone with the signed result.

Commits: unlike other services, erasure commits through the session it is given (after
each batch and at the end), because a resumable job cannot be one transaction. Whatever
the caller added to the session before the call is committed with the first batch.

DEK caches on other workers: the cache key of a DEK is its wrapped form, and every read
takes that from the subject row in the reader's own transaction. Once the deleting
transaction commits, no process can present the wrapped DEK any more, so a cached copy
elsewhere is unreachable (the row is the erasure marker, checked on every use at no
extra cost) and is wiped when it ages out (PRIVACY_DEK_CACHE_MAX_AGE). This process
evicts its copy at once.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.catalog.models import Collection, Purpose
from privacy.consent import receipts
from privacy.consent.models import ConsentEvent, ConsentState, Objection, Restriction
from privacy.consent.proof import rfc3339
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.erasure import holds, tombstones
from privacy.erasure.marks import ERASED_PREFIX
from privacy.erasure.models import COMPLETED, HELD, IN_PROGRESS, Erasure
from privacy.errors import NotFound
from privacy.runtime import Runtime
from privacy.subjects import sealing
from privacy.subjects.models import BlindIndexEntry, Record, Subject
from privacy.webhooks.service import holder_client_ids, notify_holding_apps, of_subject

log = logging.getLogger("privacy.erasure")

EVENT = "subject.erased"
# Tables holding the subject's consent history and Art. 18/21 state (deleted with it).
_SUBJECT_TABLES = (ConsentEvent, ConsentState, Objection, Restriction)


def erase_subject(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    subject_id: uuid.UUID,
    *,
    request_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Erase a subject; safe to call again (returns the same result once complete).

    Returns the request result: `erased` (records per collection), `erased_other` (other
    rows), `key_destroyed`, `kept`, `backups_hold_data_until`, and the signed `receipt`
    with its `signature` and `key_name`.

    Raises:
        NotFound: no such subject, and no erasure of it is on record.
    """
    return run_erasure(session, rt, ctx, subject_id, request_id=request_id)


def run_erasure(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    subject_id: uuid.UUID,
    *,
    request_id: uuid.UUID | None = None,
    now: datetime | None = None,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """`erase_subject` with the knobs the scheduler and tests use."""
    now = now or utcnow()
    kv = tombstones.store(rt)
    erasure = session.get(Erasure, subject_id)
    subject = session.get(Subject, subject_id)
    if subject is None:
        return _already_erased(rt, kv, erasure, subject_id)
    if _held_and_unchanged(erasure, now):
        assert erasure is not None and erasure.result is not None
        return erasure.result
    if erasure is None:
        erasure = Erasure(
            subject_id=subject_id,
            request_id=request_id,
            holders=sorted(holder_client_ids(session, subject_id)),
        )
        session.add(erasure)
        audit.append(session, ctx, action="subject.erase.start", subject_id=subject_id)
    elif erasure.status != IN_PROGRESS:
        erasure.status = IN_PROGRESS
    request_id = request_id or erasure.request_id
    erasure.request_id = request_id
    session.flush()
    # Vault first, then the database (see privacy.erasure.tombstones).
    tombstones.mark_pending(kv, subject_id, request_id, erasure.started_at)
    session.commit()
    _secure_delete(session)
    kept = _sweep(session, rt, erasure, now, batch_size or rt.settings.erasure_batch_size, on_batch)
    result = _finish(session, rt, ctx, erasure, subject, kept, now)
    session.commit()
    _checkpoint(session)
    # Best effort: the database is done; a stale tombstone only makes a replay re-check.
    try:
        tombstones.mark_done(kv, subject_id, erasure.status, result)
    except Exception as exc:
        log.warning("erasure tombstone not updated (%s); replay will retry", type(exc).__name__)
    return result


def _held_and_unchanged(erasure: Erasure | None, now: datetime) -> bool:
    """An erasure that kept records for a hold has nothing more to do until the hold ends."""
    return (
        erasure is not None
        and erasure.status == HELD
        and erasure.result is not None
        and erasure.hold_until is not None
        and now < erasure.hold_until
    )


def _already_erased(
    rt: Runtime, kv: Any, erasure: Erasure | None, subject_id: uuid.UUID
) -> dict[str, Any]:
    if erasure is not None and erasure.result is not None:
        return erasure.result
    stone = tombstones.read(kv, subject_id)
    if stone and stone.get("result"):
        return stone["result"]
    raise NotFound(f"no subject with id {subject_id}")


def _secure_delete(session: Session) -> None:
    # SQLite leaves deleted cells in free pages; zero them instead (per connection; the
    # one pooled connection keeps it on). PostgreSQL: dead tuples go at the next VACUUM.
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def _checkpoint(session: Session) -> None:
    # Copy the WAL into the main file and truncate it, so that the deleted pages do not
    # linger there either. Best effort: a busy reader makes it a partial checkpoint.
    # (Outside any transaction, hence the raw connection; the session has committed and
    # handed its connection back to the pool.)
    engine = session.get_bind()
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # type: ignore[union-attr]
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception as exc:
        log.info("WAL checkpoint after erasure skipped: %s", type(exc).__name__)
    finally:
        raw.close()


def _categories(session: Session) -> dict[str, dict[str, str]]:
    """Field name -> PII category, per collection."""
    return {
        c.name: {f["name"]: f.get("category", "") for f in c.fields}
        for c in session.exec(select(Collection)).all()
    }


def _purposes(session: Session) -> dict[str, tuple[str, ...]]:
    """The purposes that cover each collection (a hold may be scoped by purpose)."""
    out: dict[str, list[str]] = {}
    for p in session.exec(select(Purpose)).all():
        for c in p.collections:
            out.setdefault(c, []).append(p.id)
    return {c: tuple(sorted(ids)) for c, ids in out.items()}


def _sweep(
    session: Session,
    rt: Runtime,
    erasure: Erasure,
    now: datetime,
    batch: int,
    on_batch: Callable[[int], None] | None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Delete the records no hold keeps, batch by batch; return what the holds kept."""
    check_holds = holds.holds_configured(rt)
    categories = _categories(session) if check_holds else {}
    purposes = _purposes(session) if check_holds else {}
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    after: uuid.UUID | None = None
    done = 0
    while True:
        cols = [Record.id, Record.collection]
        if check_holds:
            cols += [Record.created_at, Record.sealed]
        query = select(*cols).where(of_subject(session, erasure.subject_id))
        if after is not None:
            query = query.where(col(Record.id) > after)
        rows = session.exec(query.order_by(col(Record.id)).limit(batch)).all()
        if not rows:
            return kept
        after = rows[-1][0]
        doomed: dict[str, list[uuid.UUID]] = {}
        for row in rows:
            if check_holds:
                fields = categories.get(row[1], {})
                cats = {fields.get(name, "") for name in row[3]} - {""}
                keep = holds.keeps(rt, row[1], cats, row[2], now, purposes.get(row[1], ()))
                if keep:
                    _note_kept(kept, row[1], keep)
                    continue
            doomed.setdefault(row[1], []).append(row[0])
        _delete_batch(session, erasure, doomed, [r[0] for r in rows])
        session.commit()
        done += 1
        if on_batch is not None:
            on_batch(done)


def _note_kept(kept: dict[tuple[str, str], dict[str, Any]], coll: str, keep: list[Any]) -> None:
    for k in keep:
        entry = kept.setdefault(
            (coll, k.hold),
            {
                "collection": coll,
                "records": 0,
                "hold": k.hold,
                "ground": k.ground,
                "until": k.until,
            },
        )
        entry["records"] += 1
        entry["until"] = max(entry.get("until", k.until), k.until)


def _delete_batch(
    session: Session,
    erasure: Erasure,
    doomed: dict[str, list[uuid.UUID]],
    scanned: list[uuid.UUID],
) -> None:
    counts = dict(erasure.counts)
    # Every scanned record loses its blind-index rows, held ones too: a record kept for
    # a legal hold must stay readable for that purpose, not findable by value.
    gone = session.exec(
        delete(BlindIndexEntry)
        .where(col(BlindIndexEntry.record_id).in_(scanned))
        .execution_options(synchronize_session=False)  # nothing of these is loaded
    )
    counts["rows:blind_index"] = counts.get("rows:blind_index", 0) + (gone.rowcount or 0)
    for coll, ids in doomed.items():
        stmt = delete(Record).where(col(Record.id).in_(ids))
        n = session.exec(stmt.execution_options(synchronize_session=False)).rowcount or 0
        counts[f"records:{coll}"] = counts.get(f"records:{coll}", 0) + n
    erasure.counts = counts  # a new dict, so the JSON column is seen as changed
    erasure.updated_at = utcnow()
    session.add(erasure)


def _delete_subject_rows(session: Session, erasure: Erasure, *, keep_restriction: bool) -> None:
    counts = dict(erasure.counts)
    for model in _SUBJECT_TABLES:
        if keep_restriction and model is Restriction:
            continue
        table = model.__table__  # type: ignore[attr-defined]
        n = session.exec(delete(model).where(table.c.subject_id == erasure.subject_id)).rowcount
        counts[f"rows:{table.name}"] = counts.get(f"rows:{table.name}", 0) + (n or 0)
    erasure.counts = counts


def _finish(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    erasure: Erasure,
    subject: Subject,
    kept: dict[tuple[str, str], dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    subject_id = erasure.subject_id
    key_destroyed = None
    if kept:
        _delete_subject_rows(session, erasure, keep_restriction=True)
        _scrub(session, subject)
        _restrict(session, subject_id)
        erasure.status = HELD
        # The next time something changes: the earliest end among the holds.
        erasure.hold_until = min(k["until"] for k in kept.values())
    else:
        _delete_subject_rows(session, erasure, keep_restriction=False)
        key_destroyed = _destroy_key(rt, subject)
        session.exec(delete(Subject).where(col(Subject.id) == subject_id))
        rt.keyring.forget(sealing.key_context(subject_id))
        erasure.status = COMPLETED
        erasure.hold_until = None
    erasure.completed_at = now
    erasure.updated_at = utcnow()
    details = {"request_id": str(erasure.request_id) if erasure.request_id else None}
    details["status"] = erasure.status
    notified = notify_holding_apps(session, rt, subject_id, EVENT, details)
    result = _result(rt, erasure, key_destroyed, list(kept.values()), notified, now)
    erasure.result = result
    session.add(erasure)
    audit.append(
        session,
        ctx,
        action="subject.erase",
        subject_id=subject_id,
        reason=f"{erasure.status};records:{_record_total(erasure.counts)};notified:{notified}",
    )
    return result


def _scrub(session: Session, subject: Subject) -> None:
    """Keep the row (its DEK opens the held records) but nothing that identifies the person;
    the prefix also tells record writes that the subject is erased."""
    subject.external_id_index = f"{ERASED_PREFIX}{subject.id.hex}"
    subject.external_id_sealed = b""
    subject.email_index = None
    subject.email_sealed = None
    subject.updated_at = utcnow()
    session.add(subject)


def _restrict(session: Session, subject_id: uuid.UUID) -> None:
    # Held records may be processed only for the hold's purpose: Art. 18 restriction, which
    # the read rules enforce (reads only for `legal_claims`).
    row = session.get(Restriction, subject_id) or Restriction(
        subject_id=subject_id, restricted=True, ground="legal_hold", updated_by="system"
    )
    row.restricted = True
    row.ground = "legal_hold"
    row.updated_by = "system:erasure"
    row.updated_at = utcnow()
    session.add(row)


def _destroy_key(rt: Runtime, subject: Subject) -> dict[str, Any]:
    wrapped = subject.wrapped_dek
    version = wrapped.split(":")[1].removeprefix("v") if wrapped.count(":") >= 2 else ""
    return {
        "kek": rt.settings.kek_name,
        "kek_version": int(version) if version.isdigit() else None,
        "context": str(subject.id),
        # Names exactly which wrapped DEK was destroyed without keeping it.
        "wrapped_dek_sha256": hashlib.sha256(wrapped.encode()).hexdigest(),
    }


def _record_total(counts: dict[str, int]) -> int:
    return sum(n for k, n in counts.items() if k.startswith("records:"))


def _result(
    rt: Runtime,
    erasure: Erasure,
    key_destroyed: dict[str, Any] | None,
    kept: list[dict[str, Any]],
    notified: int,
    now: datetime,
) -> dict[str, Any]:
    erased = {
        k.removeprefix("records:"): n for k, n in erasure.counts.items() if k[:8] == "records:"
    }
    other = {k.removeprefix("rows:"): n for k, n in erasure.counts.items() if k[:5] == "rows:"}
    backups_until = now + timedelta(days=rt.settings.backup_retention_days)
    kept_out = [
        {**k, "until": rfc3339(k["until"])}
        for k in sorted(kept, key=lambda k: (k["collection"], k["hold"]))
    ]
    receipt = {
        "type": "erasure",
        "version": 1,
        "subject_id": str(erasure.subject_id),
        "request_id": str(erasure.request_id) if erasure.request_id else None,
        "status": erasure.status,
        "started_at": rfc3339(erasure.started_at),
        "erased_at": rfc3339(now),
        "erased": erased,
        "erased_other": other,
        "key_destroyed": key_destroyed,
        "key_destroy_due": max((k["until"] for k in kept_out), default=None),
        "kept": kept_out,
        "backups_hold_data_until": rfc3339(backups_until),
        "apps_notified": notified,
        "tombstone": {
            "store": "vault-kv-v2",
            "mount": rt.settings.tombstone_mount,
            "path": tombstones.path(erasure.subject_id),
        },
    }
    signed = receipts.sign(rt, receipt)
    return {
        "status": erasure.status,
        "erased": erased,
        "erased_other": other,
        "key_destroyed": key_destroyed,
        "kept": kept_out,
        "backups_hold_data_until": receipt["backups_hold_data_until"],
        **signed,
    }


def count_records(session: Session, subject_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Record).where(of_subject(session, subject_id))
    return int(session.exec(query).one())
