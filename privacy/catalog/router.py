from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from privacy.catalog import service
from privacy.catalog.schemas import CollectionPut, CollectionRead, PurposePut, PurposeRead
from privacy.deps import AdminCtx, AdminOrDpoCtx, CatalogReaderCtx, Ctx, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.schemas import Cursor, Limit, Page

router = APIRouter(prefix="/v1", tags=["schema and purposes"], responses=PROBLEM_RESPONSES)
NameParam = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_\-]{0,62}$")]


@router.put("/collections/{name}", response_model=CollectionRead)
def put_collection(
    name: NameParam,
    body: CollectionPut,
    session: SessionDep,
    ctx: AdminCtx,
    response: Response,
) -> CollectionRead:
    """Create or change a collection of typed PII fields."""
    col, created = service.put_collection(session, ctx, name=name, data=body)
    response.status_code = 201 if created else 200
    return CollectionRead.model_validate(col)


@router.get("/collections", response_model=Page[CollectionRead])
def list_collections(
    session: SessionDep, ctx: CatalogReaderCtx, limit: Limit = 50, cursor: Cursor = None
) -> Page[CollectionRead]:
    """List collections by name."""
    rows, next_cursor = service.list_collections(session, limit=limit, cursor=cursor)
    return Page(items=[CollectionRead.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.get("/collections/{name}", response_model=CollectionRead)
def get_collection(name: str, session: SessionDep, ctx: CatalogReaderCtx) -> CollectionRead:
    """Read one collection's definition."""
    return CollectionRead.model_validate(service.get_collection(session, name))


@router.put("/purposes/{purpose_id}", response_model=PurposeRead)
def put_purpose(
    purpose_id: NameParam,
    body: PurposePut,
    session: SessionDep,
    ctx: AdminOrDpoCtx,
    response: Response,
) -> PurposeRead:
    """Create or change a purpose of processing."""
    purpose, created = service.put_purpose(session, ctx, purpose_id=purpose_id, data=body)
    response.status_code = 201 if created else 200
    return PurposeRead.model_validate(purpose)


@router.get("/purposes", response_model=Page[PurposeRead])
def list_purposes(
    session: SessionDep, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None
) -> Page[PurposeRead]:
    """List purposes by id (any principal)."""
    rows, next_cursor = service.list_purposes(session, limit=limit, cursor=cursor)
    return Page(items=[PurposeRead.model_validate(p) for p in rows], next_cursor=next_cursor)
