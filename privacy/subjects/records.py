"""Records: validated, sealed field by field, blind-indexed, and read only for a purpose."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, col, select

import kms
from privacy.audit import service as audit
from privacy.catalog.models import Collection
from privacy.catalog.service import get_collection
from privacy.catalog.validation import validate_record
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.erasure.marks import is_erased
from privacy.errors import BadRequest, Conflict, IntegrityFailure, InvalidData, NotFound
from privacy.runtime import Runtime
from privacy.schemas import decode_cursor, page_of
from privacy.subjects import sealing
from privacy.subjects.access import (
    ReadGrant,
    authorise_read,
    authorise_subject,
    omit_refused,
    require_covered,
    require_scope,
)
from privacy.subjects.models import BlindIndexEntry, Record, Subject
from privacy.subjects.schemas import RecordCreate, RecordRead

MAX_SEARCH_CRITERIA = 10


def _validate(
    rt: Runtime, collection: Collection, data: Any, *, partial: bool, where: str = "data"
) -> dict[str, bytes]:
    s = rt.settings
    return validate_record(
        collection.fields,
        data,
        partial=partial,
        where=where,
        max_value_bytes=s.max_value_bytes,
        max_record_bytes=s.max_record_bytes,
    )


def _specs(collection: Collection) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in collection.fields}


def _seal_into(
    rt: Runtime, record: Record, subject: Subject, collection: Collection, values: dict[str, bytes]
) -> list[BlindIndexEntry]:
    """Seal `values` into `record`; return the blind-index rows for its searchable fields
    (the caller adds them once the record row exists)."""
    cipher = sealing.cipher_for(rt, subject)
    specs = _specs(collection)
    sealed = dict(record.sealed)
    index = []
    for name, encoded in values.items():
        where = sealing.aad(subject.id, collection.name, record.id, name)
        sealed[name] = sealing.seal_value(cipher, encoded, where=where)
        if specs[name].get("searchable"):
            index.append(
                BlindIndexEntry(
                    collection=collection.name,
                    field=name,
                    record_id=record.id,
                    subject_id=subject.id,
                    digest=sealing.digest(rt, collection.name, name, specs[name]["type"], encoded),
                )
            )
    # A new dict, so the JSON column is seen as changed.
    record.sealed = sealed
    return index


def _subjects(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Subject]:
    wanted = set(ids)
    rows = session.exec(select(Subject).where(col(Subject.id).in_(wanted))).all()
    found = {s.id: s for s in rows}
    missing = wanted - found.keys()
    if missing:
        raise NotFound(f"no subject with id {sorted(map(str, missing))[0]}")
    return found


def create_records(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    items: list[RecordCreate],
) -> list[Record]:
    """Validate every record first, then seal and write them all: all or nothing."""
    require_scope(ctx, f"records:write:{collection}", action="record.create", collection=collection)
    col_ = get_collection(session, collection)
    many = len(items) > 1
    values = [
        _validate(
            rt, col_, item.data, partial=False, where=f"records[{i}].data" if many else "data"
        )
        for i, item in enumerate(items)
    ]
    subjects = _subjects(session, (item.subject_id for item in items))
    if any(is_erased(s) for s in subjects.values()):  # kept only for a legal hold
        raise Conflict("this subject was erased; no new records can be stored for it")
    records, index = [], []
    for item, vals in zip(items, values, strict=True):
        record = Record(
            subject_id=item.subject_id,
            collection=collection,
            sealed={},
            created_by=ctx.principal.label,
        )
        index += _seal_into(rt, record, subjects[item.subject_id], col_, vals)
        records.append(record)
    session.add_all(records)
    session.flush()
    session.add_all(index)
    for record, vals in zip(records, values, strict=True):
        audit.append(
            session,
            ctx,
            action="record.create",
            subject_id=record.subject_id,
            collection=collection,
            record_id=record.id,
            fields=vals.keys(),
        )
    return records


def _get_record(session: Session, collection: str, record_id: uuid.UUID) -> Record:
    record = session.get(Record, record_id)
    if record is None or record.collection != collection:
        raise NotFound(f"no record {record_id} in collection {collection!r}")
    return record


def _open(
    rt: Runtime,
    ctx: RequestContext,
    record: Record,
    subject: Subject,
    grant: ReadGrant,
    action: str,
) -> RecordRead:
    names = [f for f in grant.fields if f in record.sealed]
    try:
        cipher = sealing.cipher_for(rt, subject)
        data = {
            name: sealing.open_value(
                cipher,
                record.sealed[name],
                where=sealing.aad(subject.id, record.collection, record.id, name),
            )
            for name in names
        }
    except kms.DecryptionFailed:
        err = IntegrityFailure(
            f"record {record.id} failed its integrity check: it was altered or moved, "
            "or its key was destroyed; the event was recorded"
        )
        err.audit = audit.event(
            ctx,
            action=action,
            outcome="integrity_error",
            subject_id=subject.id,
            collection=record.collection,
            record_id=record.id,
            fields=names,
            purpose=grant.purpose.id,
        )
        raise err from None
    return RecordRead(
        id=record.id,
        subject_id=record.subject_id,
        collection=record.collection,
        data=data,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _read_many(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    records: list[Record],
    grant: ReadGrant,
    action: str,
    reasons: dict[uuid.UUID, str],
) -> list[RecordRead]:
    """Open and audit records whose subjects passed the subject rules (`reasons` says why)."""
    subjects = _subjects(session, {r.subject_id for r in records}) if records else {}
    out = []
    for record in records:
        read = _open(rt, ctx, record, subjects[record.subject_id], grant, action)
        audit.append(
            session,
            ctx,
            action=action,
            subject_id=record.subject_id,
            collection=record.collection,
            record_id=record.id,
            fields=read.data.keys(),
            purpose=grant.purpose.id,
            reason=reasons[record.subject_id],
        )
        out.append(read)
    return out


def read_record(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    record_id: uuid.UUID,
    purpose: str | None,
    fields: list[str] | None,
) -> RecordRead:
    col_ = get_collection(session, collection)
    # A refusal is audited against the record and its subject, when the record exists,
    # so that it shows in that subject's access log.
    found = session.get(Record, record_id)
    if found is not None and found.collection != collection:
        found = None
    grant = authorise_read(
        session,
        ctx,
        collection=col_,
        purpose_id=purpose,
        requested=fields,
        subject_id=found.subject_id if found else None,
        record_id=record_id,
    )
    record = _get_record(session, collection, record_id)
    reason = authorise_subject(
        session,
        ctx,
        grant,
        record.subject_id,
        action="record.read",
        collection=collection,
        record_id=record_id,
    )
    return _read_many(
        session, rt, ctx, [record], grant, "record.read", {record.subject_id: reason}
    )[0]


def list_records(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    subject_id: uuid.UUID,
    purpose: str | None,
    fields: list[str] | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[RecordRead], str | None]:
    col_ = get_collection(session, collection)
    grant = authorise_read(
        session, ctx, collection=col_, purpose_id=purpose, requested=fields, subject_id=subject_id
    )
    # One subject is named: a refusal by the subject rules is a 403, not an empty page.
    reason = authorise_subject(
        session, ctx, grant, subject_id, action="record.read", collection=collection
    )
    query = select(Record).where(Record.collection == collection, Record.subject_id == subject_id)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(col(Record.id) > _cursor_id(after))
    rows = list(session.exec(query.order_by(col(Record.id)).limit(limit + 1)).all())
    rows, next_cursor = page_of(rows, limit, lambda r: str(r.id))
    reasons = {subject_id: reason}
    return _read_many(session, rt, ctx, rows, grant, "record.read", reasons), next_cursor


def _cursor_id(key: Any) -> uuid.UUID:
    # A cursor decodes to whatever JSON it holds: refuse one that names no record id.
    try:
        return uuid.UUID(str(key))
    except ValueError:
        raise BadRequest("the cursor is not one this service issued") from None


def search_records(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    criteria: dict[str, Any],
    purpose: str | None,
    fields: list[str] | None,
    limit: int,
) -> list[RecordRead]:
    """Find records by exact (normalised) match on searchable fields, all criteria ANDed."""
    col_ = get_collection(session, collection)
    grant = authorise_read(
        session, ctx, collection=col_, purpose_id=purpose, requested=fields, action="record.search"
    )
    if not criteria or len(criteria) > MAX_SEARCH_CRITERIA:
        raise InvalidData(f"give between 1 and {MAX_SEARCH_CRITERIA} searchable fields")
    specs = _specs(col_)
    not_searchable = sorted(n for n in criteria if n in specs and not specs[n].get("searchable"))
    if not_searchable:
        raise InvalidData(f"not searchable: {', '.join(not_searchable)}")
    values = _validate(rt, col_, criteria, partial=True, where="query")
    if len(values) != len(criteria) or any(v == b"" for v in values.values()):
        raise InvalidData("query: search values cannot be null")
    require_covered(ctx, grant, list(values), collection=collection, action="record.search")
    match = or_(
        *(
            and_(
                BlindIndexEntry.field == name,
                BlindIndexEntry.digest
                == sealing.digest(rt, collection, name, specs[name]["type"], enc),
            )
            for name, enc in values.items()
        )
    )
    ids = session.exec(
        select(BlindIndexEntry.record_id)
        .where(BlindIndexEntry.collection == collection, match)
        .group_by(BlindIndexEntry.record_id)
        .having(func.count(func.distinct(BlindIndexEntry.field)) == len(values))
        .limit(limit)
    ).all()
    found = list(session.exec(select(Record).where(col(Record.id).in_(ids))).all()) if ids else []
    records, reasons = omit_refused(session, ctx, grant, found, collection=collection)
    audit.append(
        session,
        ctx,
        action="record.search",
        collection=collection,
        fields=values.keys(),
        purpose=grant.purpose.id,
        reason=f"matches:{len(ids)};omitted:{len(found) - len(records)}",
    )
    return _read_many(session, rt, ctx, records, grant, "record.read", reasons)


def update_record(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    record_id: uuid.UUID,
    data: dict[str, Any],
) -> RecordRead:
    """Rectify fields: changed values are resealed and reindexed; names are audited."""
    require_scope(ctx, f"records:write:{collection}", action="record.update", collection=collection)
    col_ = get_collection(session, collection)
    record = _get_record(session, collection, record_id)
    values = _validate(rt, col_, data, partial=True)
    subject = _subjects(session, [record.subject_id])[record.subject_id]
    removed = [n for n, v in values.items() if v == b""]
    changed = {n: v for n, v in values.items() if v != b""}
    session.exec(
        delete(BlindIndexEntry).where(
            BlindIndexEntry.record_id == record.id, col(BlindIndexEntry.field).in_(list(values))
        )
    )
    record.sealed = {k: v for k, v in record.sealed.items() if k not in removed}
    session.add_all(_seal_into(rt, record, subject, col_, changed))
    record.updated_at = utcnow()
    session.add(record)
    audit.append(
        session,
        ctx,
        action="record.update",
        subject_id=record.subject_id,
        collection=collection,
        record_id=record.id,
        fields=values.keys(),
    )
    return RecordRead(
        id=record.id,
        subject_id=record.subject_id,
        collection=collection,
        data={},
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def delete_record(
    session: Session, ctx: RequestContext, *, collection: str, record_id: uuid.UUID
) -> None:
    require_scope(
        ctx, f"records:delete:{collection}", action="record.delete", collection=collection
    )
    record = _get_record(session, collection, record_id)
    session.exec(delete(BlindIndexEntry).where(BlindIndexEntry.record_id == record.id))
    session.delete(record)
    audit.append(
        session,
        ctx,
        action="record.delete",
        subject_id=record.subject_id,
        collection=collection,
        record_id=record.id,
        fields=record.sealed.keys(),
    )


__all__ = [
    "create_records",
    "delete_record",
    "list_records",
    "read_record",
    "search_records",
    "update_record",
]
