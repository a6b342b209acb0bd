"""Records: validated, sealed field by field, blind-indexed, and read only for a purpose.

The two hot paths use SQLAlchemy Core, not ORM units of work. A read is one query (the
record, its subject's wrapped DEK and the catalog version), the subject-state rules
(restriction, consent, objection: read now, in this transaction), and one audit insert.
A write is one query (the subjects' wrapped DEKs and the catalog version), then one insert
each for the records, their blind-index rows and their audit entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

import kms
from privacy.audit import service as audit
from privacy.catalog import cache
from privacy.catalog.cache import CollectionSpec
from privacy.catalog.validation import validate_record
from privacy.consent.models import ConsentState, Objection, Restriction
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.erasure.marks import is_erased_index
from privacy.errors import (
    BadRequest,
    Conflict,
    IntegrityFailure,
    InvalidData,
    NotFound,
    PrivacyError,
)
from privacy.ids import uuid7
from privacy.prepared import Prepared
from privacy.runtime import Runtime
from privacy.schemas import decode_cursor, page_of
from privacy.subjects import sealing
from privacy.subjects.access import (
    ReadGrant,
    authorise_read,
    authorise_subject,
    decide_one,
    enforce,
    omit_refused,
    require_covered,
    require_scope,
)
from privacy.subjects.models import BlindIndexEntry, Record, Subject
from privacy.subjects.schemas import RecordCreate, RecordCreated, RecordRead

MAX_SEARCH_CRITERIA = 10

_records = Record.__table__  # type: ignore[attr-defined]
_subjects_t = Subject.__table__  # type: ignore[attr-defined]
_index = BlindIndexEntry.__table__  # type: ignore[attr-defined]
_version = cache.VERSION.label("catalog_version")
_restrictions = Restriction.__table__  # type: ignore[attr-defined]
_consents = ConsentState.__table__  # type: ignore[attr-defined]
_objections = Objection.__table__  # type: ignore[attr-defined]


def _state(table: Any, flag: str, *, per_purpose: bool) -> Any:
    """The subject's current state row for rules 7-9, as a column of the record query:
    read in the same statement, so in the same transaction (never cached)."""
    where = [table.c.subject_id == _records.c.subject_id]
    if per_purpose:
        where.append(table.c.purpose == bindparam("purpose"))
    return core_select(table.c[flag]).where(*where).scalar_subquery().label(flag)


# Built once, and run past SQLAlchemy's per-call work (privacy.prepared): these are the
# statements of the two hot routes.
_READ_ONE = Prepared(
    core_select(
        _version,
        _records.c.id,
        _records.c.subject_id,
        _records.c.collection,
        _records.c.sealed,
        _records.c.created_at,
        _records.c.updated_at,
        _subjects_t.c.wrapped_dek,
        _state(_restrictions, "restricted", per_purpose=False),
        _state(_consents, "granted", per_purpose=True),
        _state(_objections, "objected", per_purpose=True),
    )
    .select_from(_records.join(_subjects_t, _subjects_t.c.id == _records.c.subject_id))
    .where(_records.c.id == bindparam("record_id"))
)
_DEK_COLUMNS = (
    _version,
    _subjects_t.c.id,
    _subjects_t.c.wrapped_dek,
    _subjects_t.c.external_id_index,
)
_DEKS = core_select(*_DEK_COLUMNS).where(_subjects_t.c.id.in_(bindparam("ids", expanding=True)))
_DEKS_OF_ONE = Prepared(core_select(*_DEK_COLUMNS).where(_subjects_t.c.id == bindparam("id")))
_ONLY_DEKS = core_select(_subjects_t.c.id, _subjects_t.c.wrapped_dek).where(
    _subjects_t.c.id.in_(bindparam("ids", expanding=True))
)
_INSERT_RECORDS = Prepared(
    insert(_records),
    columns=("id", "subject_id", "collection", "sealed", "created_by", "created_at", "updated_at"),
)
_INSERT_INDEX = Prepared(
    insert(_index), columns=("collection", "field", "record_id", "subject_id", "digest")
)


def _validate(
    rt: Runtime, collection: CollectionSpec, data: Any, *, partial: bool, where: str = "data"
) -> dict[str, bytes]:
    s = rt.settings
    return validate_record(
        list(collection.fields),
        data,
        partial=partial,
        where=where,
        max_value_bytes=s.max_value_bytes,
        max_record_bytes=s.max_record_bytes,
    )


def _specs(collection: CollectionSpec) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in collection.fields}


def _cipher(rt: Runtime, subject_id: uuid.UUID, wrapped_dek: str) -> kms.FieldCipher:
    return rt.keyring.cipher(wrapped_dek, sealing.key_context(subject_id))


def _seal(
    rt: Runtime,
    cipher: kms.FieldCipher,
    subject_id: uuid.UUID,
    collection: CollectionSpec,
    record_id: uuid.UUID,
    values: dict[str, bytes],
    sealed: dict[str, str],
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Seal `values` over a copy of `sealed`; return it and the blind-index rows for the
    searchable fields (the caller inserts them once the record row exists)."""
    specs = _specs(collection)
    sealed = dict(sealed)
    index = []
    for name, encoded in values.items():
        where = sealing.aad(subject_id, collection.name, record_id, name)
        sealed[name] = sealing.seal_value(cipher, encoded, where=where)
        spec = specs[name]
        if spec.get("searchable"):
            index.append(
                {
                    "collection": collection.name,
                    "field": name,
                    "record_id": record_id,
                    "subject_id": subject_id,
                    "digest": sealing.digest(rt, collection.name, name, spec["type"], encoded),
                }
            )
    return sealed, index


def _require_all(wanted: set[uuid.UUID], found: dict[uuid.UUID, str]) -> None:
    missing = wanted - found.keys()
    if missing:
        raise NotFound(f"no subject with id {sorted(map(str, missing))[0]}")


def _wrapped_deks(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    rows = session.connection().execute(_ONLY_DEKS, {"ids": list(wanted)}).all()
    found = {sid: dek for sid, dek in rows}
    _require_all(wanted, found)
    return found


@dataclass(frozen=True)
class Checked:
    """Record values validated ahead of the transaction, against catalog `version`."""

    version: int
    values: list[dict[str, bytes]]


def check_ahead(rt: Runtime, collection: str, items: list[RecordCreate]) -> Checked | None:
    """Validate before the transaction (on SQLite, transactions run one at a time, so work
    done outside one is work that others need not wait for), against this process's copy
    of the catalog. `create_records` uses the result only if the catalog it reads in its
    transaction is at that same version. Otherwise, and on any doubt (no copy, no such
    collection, invalid data), None: the transaction validates, so that refusals keep
    their order (scope, collection, data) and their audit entries."""
    catalog = cache.cached(rt.engine)
    spec = catalog.collections.get(collection) if catalog is not None else None
    if catalog is None or catalog.version is None or spec is None:
        return None
    try:
        values = [_validate(rt, spec, item.data, partial=False) for item in items]
    except PrivacyError:
        return None
    return Checked(catalog.version, values)


def create_records(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    collection: str,
    items: list[RecordCreate],
    checked: Checked | None = None,
) -> list[RecordCreated]:
    """Validate every record first (or take `check_ahead`'s values, made against the
    catalog version this transaction reads), then seal and write them all: all or
    nothing."""
    require_scope(ctx, f"records:write:{collection}", action="record.create", collection=collection)
    conn = session.connection()
    wanted = {item.subject_id for item in items}
    if len(wanted) == 1:
        row = _DEKS_OF_ONE.first(conn, {"id": next(iter(wanted))})
        rows = [] if row is None else [row]
    else:
        rows = conn.execute(_DEKS, {"ids": list(wanted)}).all()
    version = rows[0][0] if rows else conn.execute(core_select(cache.VERSION)).scalar()
    col_ = cache.at_version(session, version).collection(collection)
    many = len(items) > 1
    if checked is not None and checked.version == version:
        values = checked.values
    else:
        values = [
            _validate(
                rt, col_, item.data, partial=False, where=f"records[{i}].data" if many else "data"
            )
            for i, item in enumerate(items)
        ]
    if any(is_erased_index(ext) for *_, ext in rows):  # kept only for a legal hold
        raise Conflict("this subject was erased; no new records can be stored for it")
    deks = {sid: dek for _, sid, dek, _ in rows}
    _require_all(wanted, deks)
    ciphers = {sid: _cipher(rt, sid, dek) for sid, dek in deks.items()}
    now, label = utcnow(), ctx.principal.label
    records: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    for item, vals in zip(items, values, strict=True):
        sid, rid = item.subject_id, uuid7()
        sealed, entries = _seal(rt, ciphers[sid], sid, col_, rid, vals, {})
        index += entries
        records.append(
            {
                "id": rid,
                "subject_id": sid,
                "collection": collection,
                "sealed": sealed,
                "created_by": label,
                "created_at": now,
                "updated_at": now,
            }
        )
    _INSERT_RECORDS.insert(conn, records)
    _INSERT_INDEX.insert(conn, index)
    audit.insert_events(
        session,
        [
            audit.event(
                ctx,
                action="record.create",
                subject_id=r["subject_id"],
                collection=collection,
                record_id=r["id"],
                fields=vals.keys(),
            )
            for r, vals in zip(records, values, strict=True)
        ],
    )
    return [
        RecordCreated(id=r["id"], subject_id=r["subject_id"], collection=collection, created_at=now)
        for r in records
    ]


def _get_record(session: Session, collection: str, record_id: uuid.UUID) -> Record:
    record = session.get(Record, record_id)
    if record is None or record.collection != collection:
        raise NotFound(f"no record {record_id} in collection {collection!r}")
    return record


def _open(
    rt: Runtime,
    ctx: RequestContext,
    record: Any,
    wrapped_dek: str,
    grant: ReadGrant,
    action: str,
) -> RecordRead:
    """Open the granted fields of `record` (an ORM Record or a Core row with its columns)."""
    names = [f for f in grant.fields if f in record.sealed]
    sid = record.subject_id
    try:
        cipher = _cipher(rt, sid, wrapped_dek)
        data = {
            name: sealing.open_value(
                cipher,
                record.sealed[name],
                where=sealing.aad(sid, record.collection, record.id, name),
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
            subject_id=sid,
            collection=record.collection,
            record_id=record.id,
            fields=names,
            purpose=grant.purpose.id,
        )
        raise err from None
    return RecordRead(
        id=record.id,
        subject_id=sid,
        collection=record.collection,
        data=data,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _read_event(
    ctx: RequestContext, read: RecordRead, grant: ReadGrant, action: str, reason: str
) -> dict[str, Any]:
    return audit.event(
        ctx,
        action=action,
        subject_id=read.subject_id,
        collection=read.collection,
        record_id=read.id,
        fields=read.data.keys(),
        purpose=grant.purpose.id,
        reason=reason,
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
    if not records:
        return []
    deks = _wrapped_deks(session, {r.subject_id for r in records})
    out = [_open(rt, ctx, r, deks[r.subject_id], grant, action) for r in records]
    audit.insert_events(
        session, [_read_event(ctx, r, grant, action, reasons[r.subject_id]) for r in out]
    )
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
    conn = session.connection()
    row = _READ_ONE.first(conn, {"record_id": record_id, "purpose": purpose})
    version = row.catalog_version if row else conn.execute(core_select(cache.VERSION)).scalar()
    catalog = cache.at_version(session, version)
    col_ = catalog.collection(collection)
    # A refusal is audited against the record and its subject, when the record exists,
    # so that it shows in that subject's access log.
    found = row if row is not None and row.collection == collection else None
    grant = authorise_read(
        catalog,
        ctx,
        collection=col_,
        purpose_id=purpose,
        requested=fields,
        subject_id=found.subject_id if found else None,
        record_id=record_id,
    )
    if found is None:
        raise NotFound(f"no record {record_id} in collection {collection!r}")
    decision = decide_one(grant.purpose, found.restricted, found.granted, found.objected)
    reason = enforce(ctx, grant, found.subject_id, decision, "record.read", collection, record_id)
    read = _open(rt, ctx, found, found.wrapped_dek, grant, "record.read")
    audit.insert_events(session, [_read_event(ctx, read, grant, "record.read", reason)])
    return read


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
    catalog = cache.current(session)
    col_ = catalog.collection(collection)
    grant = authorise_read(
        catalog, ctx, collection=col_, purpose_id=purpose, requested=fields, subject_id=subject_id
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
    catalog = cache.current(session)
    col_ = catalog.collection(collection)
    grant = authorise_read(
        catalog, ctx, collection=col_, purpose_id=purpose, requested=fields, action="record.search"
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
    audit.insert(
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
    col_ = cache.current(session).collection(collection)
    record = _get_record(session, collection, record_id)
    values = _validate(rt, col_, data, partial=True)
    dek = _wrapped_deks(session, [record.subject_id])[record.subject_id]
    removed = [n for n, v in values.items() if v == b""]
    changed = {n: v for n, v in values.items() if v != b""}
    session.exec(
        delete(BlindIndexEntry).where(
            BlindIndexEntry.record_id == record.id, col(BlindIndexEntry.field).in_(list(values))
        )
    )
    kept = {k: v for k, v in record.sealed.items() if k not in removed}
    cipher = _cipher(rt, record.subject_id, dek)
    # A new dict, so the JSON column is seen as changed.
    record.sealed, index = _seal(rt, cipher, record.subject_id, col_, record.id, changed, kept)
    if index:
        _INSERT_INDEX.insert(session.connection(), index)
    record.updated_at = utcnow()
    session.add(record)
    audit.insert(
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
    audit.insert(
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
