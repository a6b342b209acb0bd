"""Data-subject requests (Art. 12): filing, the state machine, deadlines and who sees what.

States: received -> identity_verified -> in_progress -> completed, or rejected (with a
reason) from any open state. A subject filing with its own verified token starts at
identity_verified and is executed at once; a request filed by an app or the DPO waits
for the DPO to verify the requester's identity (`verify_identity`) and run it
(`process`). Every transition is audited with its actor (`request.<status>`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.catalog.service import get_collection, get_purpose
from privacy.catalog.validation import validate_record
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.errors import BadRequest, Conflict, Forbidden, InvalidData, NotFound
from privacy.requests import deadlines, executors, notices
from privacy.requests.models import OPEN_STATUSES, DataSubjectRequest
from privacy.requests.schemas import IdentityVerified, RequestCreate, RequestRead
from privacy.runtime import Runtime
from privacy.schemas import decode_cursor, page_of
from privacy.subjects import sealing
from privacy.subjects.access import OBJECTABLE_BASES, acts_for, require_scope
from privacy.subjects.models import Record, Subject

CHANGES_FIELD = "rectification_changes"


def _audit(session: Session, ctx: RequestContext, req: DataSubjectRequest, status: str) -> None:
    audit.append(
        session,
        ctx,
        action=f"request.{status}",
        subject_id=req.subject_id,
        reason=f"request:{req.id};type:{req.type}",
    )


def move(session: Session, ctx: RequestContext, req: DataSubjectRequest, status: str) -> None:
    """One state transition, audited with its actor."""
    req.status = status
    req.updated_at = utcnow()
    if status in ("completed", "rejected"):
        req.completed_at = req.updated_at
    session.add(req)
    _audit(session, ctx, req, status)


def read_model(req: DataSubjectRequest, now: datetime | None = None) -> RequestRead:
    now = now or utcnow()
    due = deadlines.effective_due(req.due_at, req.extended_until)
    return RequestRead(
        id=req.id,
        subject_id=req.subject_id,
        type=req.type,  # type: ignore[arg-type]
        status=req.status,  # type: ignore[arg-type]
        received_at=req.received_at,
        due_at=req.due_at,
        extended_until=req.extended_until,
        extension_reason=req.extension_reason,
        identity_verified_at=req.identity_verified_at,
        identity_method=req.identity_method,
        completed_at=req.completed_at,
        reason=req.reason,
        result=req.result,
        params=req.params,
        filed_by=req.filed_by,
        overdue=req.status in OPEN_STATUSES and due < now,
    )


# --- filing -------------------------------------------------------------------------------


def _may_file(ctx: RequestContext, subject_id: uuid.UUID) -> None:
    p = ctx.principal
    if p.has_role("subject") and not acts_for(p, subject_id):
        err = Forbidden("a data subject may file requests only for itself")
        err.audit = audit.event(
            ctx, action="request.file", outcome="denied", subject_id=subject_id, reason="own_data"
        )
        raise err
    require_scope(ctx, "subjects:write", action="request.file", subject_id=subject_id)


def _check_rectification(
    session: Session, rt: Runtime, subject_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, dict[str, list[str]]]:
    """Validate like PATCH, before anything is stored; the field names changed, per record."""
    s = rt.settings
    names: dict[str, dict[str, list[str]]] = {}
    for collection, records in changes.items():
        col_ = get_collection(session, collection)
        for record_id, data in records.items():
            record = session.get(Record, record_id)
            if record is None or record.collection != collection or record.subject_id != subject_id:
                raise NotFound(f"no record {record_id} of this subject in {collection!r}")
            validate_record(
                col_.fields,
                data,
                partial=True,
                where=f"changes.{collection}.{record_id}",
                max_value_bytes=s.max_value_bytes,
                max_record_bytes=s.max_record_bytes,
            )
            names.setdefault(collection, {})[str(record_id)] = sorted(data)
    return names


def _check_objection(session: Session, purpose_id: str) -> None:
    purpose = get_purpose(session, purpose_id)
    if purpose.legal_basis not in OBJECTABLE_BASES:
        raise InvalidData(
            f"the purpose {purpose_id!r} has the legal basis {purpose.legal_basis!r}: "
            "objections apply to legitimate_interests and public_task purposes"
        )


def _params(session: Session, rt: Runtime, data: RequestCreate) -> dict[str, Any]:
    if data.type == "rectification":
        return {"fields": _check_rectification(session, rt, data.subject_id, data.changes or {})}
    if data.type == "objection":
        _check_objection(session, data.purpose or "")
        return {"purpose": data.purpose, "lift": data.lift}
    if data.type == "restriction":
        return {"ground": data.ground, "lift": data.lift}
    return {}


def _open_request(session: Session, subject_id: uuid.UUID, type_: str) -> DataSubjectRequest | None:
    return session.exec(
        select(DataSubjectRequest).where(
            DataSubjectRequest.subject_id == subject_id,
            DataSubjectRequest.type == type_,
            col(DataSubjectRequest.status).in_(OPEN_STATUSES),
        )
    ).first()


def _plain(changes: dict[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    if changes is None:
        return None
    return {c: {str(rid): data for rid, data in recs.items()} for c, recs in changes.items()}


def _seal_changes(rt: Runtime, subject: Subject, req: DataSubjectRequest, changes: Any) -> bytes:
    cipher = sealing.cipher_for(rt, subject)
    where = sealing.aad(subject.id, "_request", req.id, CHANGES_FIELD)
    return cipher.seal(json.dumps(changes, default=str).encode(), where)


def open_changes(rt: Runtime, subject: Subject, req: DataSubjectRequest) -> dict[str, Any]:
    cipher = sealing.cipher_for(rt, subject)
    where = sealing.aad(subject.id, "_request", req.id, CHANGES_FIELD)
    return json.loads(cipher.open(req.sealed_changes or b"", where))


def file_request(
    session: Session, rt: Runtime, ctx: RequestContext, *, data: RequestCreate
) -> tuple[DataSubjectRequest, bool]:
    """File a request; (the request, True) if new, (the open one, False) if one of that
    type is already open for the subject."""
    _may_file(ctx, data.subject_id)
    subject = session.get(Subject, data.subject_id)
    if subject is None:
        raise NotFound(f"no subject with id {data.subject_id}")
    if data.type == "erasure":
        executors.require_erasure()
    changes = _plain(data.changes)
    self_verified = ctx.principal.has_role("subject")
    existing = _open_request(session, data.subject_id, data.type)
    if existing is not None:
        if self_verified and existing.status == "received" and changes is None:
            # The subject's own sign-in verifies the identity the open request waits for.
            _verified_by_subject(session, rt, ctx, existing, subject)
        return existing, False
    params = _params(session, rt, data)
    now = utcnow()
    req = DataSubjectRequest(
        subject_id=data.subject_id,
        type=data.type,
        status="received",
        params=params,
        filed_by=ctx.principal.label,
        received_at=now,
        due_at=deadlines.due_after(now),
    )
    if changes is not None and not self_verified:
        # Values wait for the DPO sealed under the subject's DEK, never in plaintext.
        req.sealed_changes = _seal_changes(rt, subject, req, changes)
    try:
        with session.begin_nested():
            session.add(req)
            session.flush()
    except IntegrityError:
        # Another filing of the same type won the race: answer with that one.
        found = _open_request(session, data.subject_id, data.type)
        if found is None:
            raise Conflict("the request could not be filed; try again") from None
        return found, False
    _audit(session, ctx, req, "received")
    if self_verified:
        _verified_by_subject(session, rt, ctx, req, subject, changes)
    return req, True


def _verified_by_subject(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    req: DataSubjectRequest,
    subject: Subject,
    changes: dict[str, Any] | None = None,
) -> None:
    """The subject proved control of the address it is known by: verified, run at once."""
    req.identity_verified_at, req.identity_method = utcnow(), "subject_sign_in"
    move(session, ctx, req, "identity_verified")
    execute(session, rt, ctx, req, subject=subject, changes=changes)


# --- execution ----------------------------------------------------------------------------


def execute(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    req: DataSubjectRequest,
    *,
    subject: Subject | None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Run a request whose identity is verified, in the caller's transaction (an erasure
    commits on its own as it goes: see privacy.erasure.service)."""
    move(session, ctx, req, "in_progress")
    if req.type == "rectification" and changes is None:
        if subject is None:
            raise Conflict("the subject no longer exists; reject the request with a reason")
        changes = open_changes(rt, subject, req)
    req.result = executors.run(session, rt, ctx, req, changes=changes)
    req.sealed_changes = None  # applied: the values are not kept twice
    if req.type in notices.NOTIFIED:
        # Art. 19: the apps holding the subject hear of it once this transaction commits.
        req.result = {**req.result, "apps_notified": notices.notify(session, rt, req)}
    move(session, ctx, req, "completed")


def _get_open(session: Session, request_id: uuid.UUID) -> DataSubjectRequest:
    req = session.get(DataSubjectRequest, request_id)
    if req is None:
        raise NotFound(f"no request with id {request_id}")
    if req.status not in OPEN_STATUSES:
        raise Conflict(f"the request is {req.status}; it can no longer change")
    return req


def verify_identity(
    session: Session, ctx: RequestContext, *, request_id: uuid.UUID, data: IdentityVerified
) -> DataSubjectRequest:
    req = _get_open(session, request_id)
    if req.status != "received":
        raise Conflict(f"the requester's identity is already verified ({req.status})")
    req.identity_verified_at, req.identity_method = utcnow(), data.method
    move(session, ctx, req, "identity_verified")
    return req


def process(
    session: Session, rt: Runtime, ctx: RequestContext, *, request_id: uuid.UUID
) -> DataSubjectRequest:
    req = _get_open(session, request_id)
    if req.status == "received":
        raise Conflict("verify the requester's identity first (POST .../verify-identity)")
    subject = session.get(Subject, req.subject_id)
    if subject is None and req.type != "erasure":
        # An erasure is answered again from its record; anything else has nothing to act on.
        raise Conflict("the subject no longer exists; reject the request with a reason")
    execute(session, rt, ctx, req, subject=subject)
    return req


def extend(
    session: Session, ctx: RequestContext, *, request_id: uuid.UUID, reason: str, months: int
) -> DataSubjectRequest:
    """Art. 12(3): once, by up to two further months, with a reason."""
    req = _get_open(session, request_id)
    if req.extended_until is not None:
        raise Conflict("the deadline of this request was already extended once")
    req.extended_until = deadlines.due_after(req.due_at, months)
    req.extension_reason = reason
    req.updated_at = utcnow()
    session.add(req)
    _audit(session, ctx, req, "extended")
    return req


def reject(
    session: Session, ctx: RequestContext, *, request_id: uuid.UUID, reason: str
) -> DataSubjectRequest:
    req = _get_open(session, request_id)
    req.reason = reason
    req.sealed_changes = None
    move(session, ctx, req, "rejected")
    return req


# --- reading ------------------------------------------------------------------------------


def _visible(ctx: RequestContext) -> Any:
    """Which requests the caller may see: the DPO all, an app those it filed, a subject
    its own."""
    p = ctx.principal
    if p.has_role("dpo"):
        return True
    if p.has_role("app"):
        return DataSubjectRequest.filed_by == p.label
    own = [s.removeprefix("subject:") for s in p.scopes if s.startswith("subject:")]
    return col(DataSubjectRequest.subject_id).in_([uuid.UUID(s) for s in own])


def get_request(
    session: Session, ctx: RequestContext, *, request_id: uuid.UUID
) -> DataSubjectRequest:
    found = session.exec(
        select(DataSubjectRequest).where(DataSubjectRequest.id == request_id, _visible(ctx))
    ).first()
    if found is None:
        raise NotFound(f"no request with id {request_id}")
    return found


def erasure_receipt(
    session: Session, ctx: RequestContext, *, request_id: uuid.UUID
) -> dict[str, Any]:
    """The signed receipt of a completed erasure: `{receipt, key_name, signature}`."""
    req = get_request(session, ctx, request_id=request_id)
    if req.type != "erasure":
        raise NotFound(f"a {req.type} request has no receipt; erasure requests do")
    result = req.result or {}
    if req.status != "completed" or "receipt" not in result:
        raise Conflict(f"the request is {req.status}; its receipt comes when it completes")
    return {k: result[k] for k in ("receipt", "key_name", "signature")}


def list_requests(
    session: Session,
    ctx: RequestContext,
    *,
    status: str | None,
    type_: str | None,
    overdue: bool | None,
    subject_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DataSubjectRequest], str | None]:
    """Oldest first; paged by (received_at, id)."""
    now = utcnow()
    q = select(DataSubjectRequest).where(_visible(ctx))
    if status:
        q = q.where(DataSubjectRequest.status == status)
    if type_:
        q = q.where(DataSubjectRequest.type == type_)
    if subject_id:
        q = q.where(DataSubjectRequest.subject_id == subject_id)
    if overdue is not None:
        q = q.where(overdue_clause(now) if overdue else not_overdue_clause(now))
    after = decode_cursor(cursor)
    if after is not None:
        at, rid = _cursor(after)
        q = q.where(
            or_(
                col(DataSubjectRequest.received_at) > at,
                and_(DataSubjectRequest.received_at == at, col(DataSubjectRequest.id) > rid),
            )
        )
    q = q.order_by(col(DataSubjectRequest.received_at), col(DataSubjectRequest.id))
    rows = list(session.exec(q.limit(limit + 1)).all())
    return page_of(rows, limit, lambda r: [r.received_at.isoformat(), str(r.id)])


def _cursor(key: Any) -> tuple[datetime, uuid.UUID]:
    try:
        at, rid = key
        return datetime.fromisoformat(at), uuid.UUID(rid)
    except (TypeError, ValueError):
        raise BadRequest("the cursor is not one this service issued") from None


def _due() -> Any:
    return func.coalesce(DataSubjectRequest.extended_until, DataSubjectRequest.due_at)


def overdue_clause(now: datetime) -> Any:
    """Open and past the deadline (the extended one, if extended)."""
    return and_(col(DataSubjectRequest.status).in_(OPEN_STATUSES), _due() < now)


def not_overdue_clause(now: datetime) -> Any:
    # Written out rather than NOT(overdue): no NULL can make a row fall through both.
    return or_(col(DataSubjectRequest.status).not_in(OPEN_STATUSES), _due() >= now)
