from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from privacy.consent import service
from privacy.consent.schemas import (
    ConsentHistory,
    ConsentOverview,
    ConsentPut,
    ConsentRecorded,
    ObjectionPut,
    ObjectionRead,
    ReceiptVerification,
    ReceiptVerify,
    RestrictionPut,
    RestrictionRead,
)
from privacy.context import RequestContext
from privacy.deps import Ctx, RuntimeDep, SessionDep, require_roles
from privacy.errors import PROBLEM_RESPONSES
from privacy.schemas import Limit

router = APIRouter(prefix="/v1", tags=["consent"], responses=PROBLEM_RESPONSES)

# `subject` principals (own data only) come with the subject sign-in; the services check
# that a subject acts only for itself and that an app holds the scopes it needs.
ConsentWriterCtx = Annotated[RequestContext, require_roles("app", "subject")]
ConsentReaderCtx = Annotated[RequestContext, require_roles("app", "dpo", "subject")]
StateWriterCtx = Annotated[RequestContext, require_roles("app", "dpo")]
PurposeParam = Annotated[str, Path(max_length=63)]
SUBJECT = "/subjects/{subject_id}"


@router.put(SUBJECT + "/consents/{purpose}", response_model=ConsentRecorded)
def put_consent(
    subject_id: uuid.UUID,
    purpose: PurposeParam,
    body: ConsentPut,
    session: SessionDep,
    rt: RuntimeDep,
    ctx: ConsentWriterCtx,
) -> ConsentRecorded:
    """Grant or withdraw consent for a purpose; returns the event and a signed receipt."""
    return service.record_consent(
        session, rt, ctx, subject_id=subject_id, purpose_id=purpose, data=body
    )


@router.get(SUBJECT + "/consents", response_model=ConsentOverview)
def get_consents(
    subject_id: uuid.UUID, session: SessionDep, ctx: ConsentReaderCtx
) -> ConsentOverview:
    """Current consent per purpose, with the subject's restriction and objections."""
    return service.consent_overview(session, ctx, subject_id=subject_id)


@router.get(SUBJECT + "/consents/history", response_model=ConsentHistory)
def get_consent_history(
    subject_id: uuid.UUID,
    session: SessionDep,
    ctx: ConsentReaderCtx,
    purpose: Annotated[str | None, Query(max_length=63)] = None,
    include_text: bool = False,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ConsentHistory:
    """Append-only consent history with its hash chain (proof of what was agreed, when)."""
    return service.consent_history(
        session,
        ctx,
        subject_id=subject_id,
        purpose=purpose,
        include_text=include_text,
        limit=limit,
        cursor=cursor,
    )


@router.get(SUBJECT + "/restriction", response_model=RestrictionRead)
def get_restriction(
    subject_id: uuid.UUID, session: SessionDep, ctx: ConsentReaderCtx
) -> RestrictionRead:
    """Whether processing of the subject is restricted (Art. 18)."""
    return service.get_restriction(session, ctx, subject_id=subject_id)


@router.put(SUBJECT + "/restriction", response_model=RestrictionRead)
def put_restriction(
    subject_id: uuid.UUID, body: RestrictionPut, session: SessionDep, ctx: StateWriterCtx
) -> RestrictionRead:
    """Restrict processing (reads only for `legal_claims`) or lift the restriction."""
    return service.set_restriction(
        session, ctx, subject_id=subject_id, restricted=body.restricted, reason=body.reason
    )


@router.put(SUBJECT + "/objections/{purpose}", response_model=ObjectionRead)
def put_objection(
    subject_id: uuid.UUID,
    purpose: PurposeParam,
    body: ObjectionPut,
    session: SessionDep,
    ctx: StateWriterCtx,
) -> ObjectionRead:
    """Record (or lift) an objection to a legitimate-interest or public-task purpose."""
    return service.set_objection(
        session, ctx, subject_id=subject_id, purpose_id=purpose, objected=body.objected
    )


@router.post("/receipts/verify", response_model=ReceiptVerification, tags=["receipts"])
def verify_receipt(
    body: ReceiptVerify, session: SessionDep, rt: RuntimeDep, ctx: Ctx
) -> ReceiptVerification:
    """Check a signed receipt (any signed-in principal; offline: `GET /v1/keys/public`)."""
    return service.verify_receipt(session, rt, body=body)
