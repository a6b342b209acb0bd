from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response
from pydantic import BaseModel

from privacy.deps import AppCtx, AppOrDpoCtx, AppTx, RuntimeDep, SessionDep, Transaction
from privacy.errors import PROBLEM_RESPONSES
from privacy.schemas import Limit, Page
from privacy.subjects import records, service
from privacy.subjects.schemas import (
    RecordBatch,
    RecordCreate,
    RecordCreated,
    RecordRead,
    RecordUpdate,
    SubjectCreate,
    SubjectRead,
)

router = APIRouter(prefix="/v1", tags=["subjects and records"], responses=PROBLEM_RESPONSES)

# Also the limits of privacy.subjects.hot, which serves the two hot routes as these would.
PURPOSE_MAX, FIELDS_MAX = 63, 2000
PurposeQuery = Annotated[
    str | None,
    Query(max_length=PURPOSE_MAX, description="Why the data is read (or X-Purpose)."),
]
PurposeHeader = Annotated[str | None, Header(alias="X-Purpose", max_length=PURPOSE_MAX)]
FieldsQuery = Annotated[
    str | None, Query(max_length=FIELDS_MAX, description="Comma-separated subset of fields.")
]


def read_purpose(purpose: str | None, x_purpose: str | None) -> str | None:
    """The purpose of a read, from `?purpose=` or, failing that, the X-Purpose header."""
    return purpose or x_purpose


async def _read_purpose(
    purpose: PurposeQuery = None, x_purpose: PurposeHeader = None
) -> str | None:
    # (async: it does no I/O, and a sync dependency costs a trip through the threadpool.)
    return read_purpose(purpose, x_purpose)


ReadPurpose = Annotated[str | None, Depends(_read_purpose)]


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """The hot routes return their model already serialised: returned as a model, it would
    be validated against `response_model` once more before being serialised."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


def _fields(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()] or None


@router.post("/subjects", status_code=201, response_model=SubjectRead)
def create_subject(
    body: SubjectCreate, session: SessionDep, rt: RuntimeDep, ctx: AppCtx
) -> SubjectRead:
    """Register a data subject; its DEK is created in Vault."""
    subject = service.create_subject(session, rt, ctx, data=body)
    return service.describe(session, subject)


@router.get("/subjects", response_model=list[SubjectRead])
def find_subjects(
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AppOrDpoCtx,
    external_id: Annotated[str | None, Query(max_length=256)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
) -> list[SubjectRead]:
    """Find subjects by external_id or e-mail (blind index, nothing decrypted)."""
    return service.find_subjects(session, rt, ctx, external_id=external_id, email=email)


@router.get("/subjects/{subject_id}", response_model=SubjectRead)
def read_subject(subject_id: uuid.UUID, session: SessionDep, ctx: AppOrDpoCtx) -> SubjectRead:
    """Subject metadata; no personal data values."""
    return service.read_subject(session, ctx, subject_id=subject_id)


# The two hot routes run their whole request (caller, work, commit) in one trip to a
# transaction thread (privacy.deps.Transaction). Most requests to them are served by
# privacy.subjects.hot, which reads the request itself and then calls the same
# `write_one` / `read_one`; these declarations are the contract, and serve the rest.
async def write_one(collection: str, body: RecordCreate, tx: Transaction) -> Response:
    items = [body]
    checked = records.check_ahead(tx.rt, collection, items)
    created = await tx.run(
        records.create_records, collection=collection, items=items, checked=checked
    )
    return _json(created[0], 201)


async def read_one(
    collection: str,
    record_id: uuid.UUID,
    tx: Transaction,
    purpose: str | None,
    fields: str | None,
) -> Response:
    read = await tx.run(
        records.read_record,
        collection=collection,
        record_id=record_id,
        purpose=purpose,
        fields=_fields(fields),
    )
    return _json(read)


@router.post("/collections/{collection}/records", status_code=201, response_model=RecordCreated)
async def create_record(collection: str, body: RecordCreate, tx: AppTx) -> Response:
    """Store one record, validated against the collection and sealed field by field."""
    return await write_one(collection, body, tx)


@router.post(
    "/collections/{collection}/records:batch", status_code=201, response_model=Page[RecordCreated]
)
def create_batch(
    collection: str, body: RecordBatch, session: SessionDep, rt: RuntimeDep, ctx: AppCtx
) -> Response:
    """Store up to 1000 records in one transaction: all or nothing."""
    created = records.create_records(session, rt, ctx, collection=collection, items=body.records)
    return _json(Page(items=created), 201)


@router.get("/collections/{collection}/records/{record_id}", response_model=RecordRead)
async def read_record(
    collection: str,
    record_id: uuid.UUID,
    tx: AppTx,
    purpose: ReadPurpose,
    fields: FieldsQuery = None,
) -> Response:
    """Read a record for a purpose."""
    return await read_one(collection, record_id, tx, purpose, fields)


@router.get("/collections/{collection}/records", response_model=Page[RecordRead])
def list_records(
    collection: str,
    subject_id: uuid.UUID,
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AppCtx,
    purpose: ReadPurpose,
    fields: FieldsQuery = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[RecordRead]:
    """List a subject's records in a collection, for a purpose."""
    items, next_cursor = records.list_records(
        session,
        rt,
        ctx,
        collection=collection,
        subject_id=subject_id,
        purpose=purpose,
        fields=_fields(fields),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post("/collections/{collection}/search", response_model=Page[RecordRead])
def search(
    collection: str,
    body: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AppCtx,
    purpose: ReadPurpose,
    fields: FieldsQuery = None,
    limit: Limit = 50,
) -> Page[RecordRead]:
    """Find records by searchable fields (`{field: value}`), for a purpose."""
    items = records.search_records(
        session,
        rt,
        ctx,
        collection=collection,
        criteria=body,
        purpose=purpose,
        fields=_fields(fields),
        limit=limit,
    )
    return Page(items=items)


@router.patch("/collections/{collection}/records/{record_id}", response_model=RecordRead)
def update_record(
    collection: str,
    record_id: uuid.UUID,
    body: RecordUpdate,
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AppCtx,
) -> RecordRead:
    """Rectify fields of a record (null removes an optional field)."""
    return records.update_record(
        session, rt, ctx, collection=collection, record_id=record_id, data=body.data
    )


@router.delete("/collections/{collection}/records/{record_id}", status_code=204)
def delete_record(
    collection: str, record_id: uuid.UUID, session: SessionDep, ctx: AppCtx
) -> Response:
    """Delete a record."""
    records.delete_record(session, ctx, collection=collection, record_id=record_id)
    return Response(status_code=204)
