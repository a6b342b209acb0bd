from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from privacy.consent.schemas import SignedReceipt
from privacy.context import RequestContext
from privacy.deps import RuntimeDep, SessionDep, require_roles
from privacy.errors import PROBLEM_RESPONSES
from privacy.requests import downloads, service
from privacy.requests.schemas import (
    IdentityVerified,
    RequestCreate,
    RequestExtend,
    RequestRead,
    RequestReject,
    RequestStatus,
    RequestType,
)
from privacy.schemas import Limit, Page

router = APIRouter(
    prefix="/v1/requests", tags=["data-subject requests"], responses=PROBLEM_RESPONSES
)

FilerCtx = Annotated[RequestContext, require_roles("app", "dpo", "subject")]
DpoCtx = Annotated[RequestContext, require_roles("dpo")]
DownloadCtx = Annotated[RequestContext, require_roles("dpo", "subject")]
_201: dict[int | str, dict[str, Any]] = {
    201: {"model": RequestRead, "description": "Filed"},
    501: {**PROBLEM_RESPONSES[500], "description": "Erasure executor not installed"},
}


@router.post("", status_code=200, response_model=RequestRead, responses=_201)
def file_request(
    body: RequestCreate, response: Response, session: SessionDep, rt: RuntimeDep, ctx: FilerCtx
) -> RequestRead:
    """File a request (201); an open one of the same type for the subject comes back (200)."""
    req, created = service.file_request(session, rt, ctx, data=body)
    response.status_code = 201 if created else 200
    return service.read_model(req)


@router.get("", response_model=Page[RequestRead])
def list_requests(
    session: SessionDep,
    ctx: FilerCtx,
    status: RequestStatus | None = None,
    type: RequestType | None = None,
    overdue: bool | None = None,
    subject_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[RequestRead]:
    """Requests the caller may see: the DPO all, an app those it filed, a subject its own."""
    rows, next_cursor = service.list_requests(
        session,
        ctx,
        status=status,
        type_=type,
        overdue=overdue,
        subject_id=subject_id,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[service.read_model(r) for r in rows], next_cursor=next_cursor)


@router.get("/{request_id}", response_model=RequestRead)
def get_request(request_id: uuid.UUID, session: SessionDep, ctx: FilerCtx) -> RequestRead:
    """One request, with its status, deadline and result."""
    return service.read_model(service.get_request(session, ctx, request_id=request_id))


@router.post("/{request_id}/verify-identity", response_model=RequestRead)
def verify_identity(
    request_id: uuid.UUID, body: IdentityVerified, session: SessionDep, ctx: DpoCtx
) -> RequestRead:
    """Record that the DPO verified the requester's identity (received -> identity_verified)."""
    req = service.verify_identity(session, ctx, request_id=request_id, data=body)
    return service.read_model(req)


@router.post("/{request_id}/process", response_model=RequestRead)
def process(request_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, ctx: DpoCtx) -> RequestRead:
    """Carry out a request whose identity is verified (-> in_progress -> completed)."""
    return service.read_model(service.process(session, rt, ctx, request_id=request_id))


@router.post("/{request_id}/extend", response_model=RequestRead)
def extend(
    request_id: uuid.UUID, body: RequestExtend, session: SessionDep, ctx: DpoCtx
) -> RequestRead:
    """Extend the deadline once by up to two months, with a reason (Art. 12(3))."""
    req = service.extend(
        session, ctx, request_id=request_id, reason=body.reason, months=body.months
    )
    return service.read_model(req)


@router.post("/{request_id}/reject", response_model=RequestRead)
def reject(
    request_id: uuid.UUID, body: RequestReject, session: SessionDep, ctx: DpoCtx
) -> RequestRead:
    """Reject an open request, with a reason."""
    return service.read_model(
        service.reject(session, ctx, request_id=request_id, reason=body.reason)
    )


@router.get("/{request_id}/receipt", response_model=SignedReceipt)
def erasure_receipt(request_id: uuid.UUID, session: SessionDep, ctx: FilerCtx) -> SignedReceipt:
    """The signed receipt of a completed erasure (verify: POST /v1/receipts/verify)."""
    return SignedReceipt(**service.erasure_receipt(session, ctx, request_id=request_id))


@router.get(
    "/{request_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The ZIP archive"},
        410: {**PROBLEM_RESPONSES[404], "description": "Deleted after its retention period"},
    },
)
def download_export(
    request_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, ctx: DownloadCtx
) -> StreamingResponse:
    """Download an access/portability export (the subject or the DPO; audited)."""
    stream = downloads.open_export(session, rt, ctx, request_id=request_id)
    return StreamingResponse(
        stream,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="export-{request_id}.zip"',
            "Cache-Control": "no-store",
        },
    )
