"""The baseline apps' common HTTP surface: the same paths, bodies and answers as the vault
for the benchmark's three requests, with a pluggable transformation of record data.

- `POST /v1/subjects` `{external_id, email?}` -> 201 `{id}`
- `POST /v1/collections/{c}/records` `{subject_id, data}` -> 201 `{id, subject_id, ...}`
- `GET /v1/collections/{c}/records/{id}?purpose=` -> `{id, subject_id, collection, data}`

The Authorization header is accepted and ignored; there is no audit, no purpose check and
no validation beyond the body's shape. Endpoints are plain `def` (run in the threadpool),
as the vault's are. Configured by `BENCH_DATABASE` (see bench.store.open_store).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from bench.store import Store, open_store

Transform = Callable[[dict[str, Any]], dict[str, Any]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectIn(_Strict):
    external_id: str = Field(min_length=1, max_length=256)
    email: str | None = None


class RecordIn(_Strict):
    subject_id: uuid.UUID
    data: dict[str, Any]


def make_app(
    title: str,
    *,
    seal: Transform,
    unseal: Transform,
    setup: Callable[[], None] | None = None,
) -> FastAPI:
    store: list[Store] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if setup is not None:
            setup()
        store.append(open_store(os.environ["BENCH_DATABASE"]))
        try:
            yield
        finally:
            store.pop().close()

    app = FastAPI(title=title, lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/subjects", status_code=201)
    def create_subject(body: SubjectIn) -> dict[str, Any]:
        sid, now = str(uuid.uuid4()), _now()
        if not store[0].add_subject(sid, body.external_id, body.email, now):
            raise HTTPException(409, "external_id exists")
        return {"id": sid, "created_at": now}

    @app.post("/v1/collections/{collection}/records", status_code=201)
    def create_record(collection: str, body: RecordIn) -> dict[str, Any]:
        rid, now = str(uuid.uuid4()), _now()
        sealed = seal(body.data)
        if not store[0].add_record(rid, str(body.subject_id), collection, sealed, now):
            raise HTTPException(404, "no such subject")
        return {
            "id": rid,
            "subject_id": str(body.subject_id),
            "collection": collection,
            "created_at": now,
        }

    @app.get("/v1/collections/{collection}/records/{record_id}")
    def read_record(collection: str, record_id: uuid.UUID, purpose: str) -> dict[str, Any]:
        row = store[0].get_record(str(record_id), collection)
        if row is None:
            raise HTTPException(404, "no such record")
        subject_id, data, created_at = row
        return {
            "id": str(record_id),
            "subject_id": subject_id,
            "collection": collection,
            "data": unseal(data),
            "created_at": created_at,
        }

    return app


def _now() -> str:
    return datetime.now(UTC).isoformat()
