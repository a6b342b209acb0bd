"""Data subjects: creation (with their DEK), metadata and blind-index lookup."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from privacy.audit import service as audit
from privacy.context import RequestContext
from privacy.errors import BadRequest, Conflict, NotFound
from privacy.runtime import Runtime
from privacy.subjects import sealing
from privacy.subjects.access import require_scope
from privacy.subjects.models import Record, Subject
from privacy.subjects.schemas import SubjectCreate, SubjectRead

EXTERNAL_ID_SCOPE = "_subject.external_id"
EMAIL_SCOPE = "_subject.email"


def _external_digest(rt: Runtime, external_id: str) -> str:
    # Ids are compared exactly (kind "id": only surrounding space is stripped).
    return rt.indexer.digest(EXTERNAL_ID_SCOPE, "id", external_id)


def _email_digest(rt: Runtime, email: str) -> str:
    return rt.indexer.digest(EMAIL_SCOPE, "email", email)


def create_subject(
    session: Session, rt: Runtime, ctx: RequestContext, *, data: SubjectCreate
) -> Subject:
    require_scope(ctx, "subjects:write", action="subject.create")
    ext_index = _external_digest(rt, data.external_id)
    if session.exec(select(Subject.id).where(Subject.external_id_index == ext_index)).first():
        raise Conflict("a subject with this external_id exists")
    subject_id = uuid.uuid4()
    # Vault first: if it is down, nothing has been written yet.
    wrapped, cipher = sealing.new_subject_key(rt, subject_id)
    subject = Subject(
        id=subject_id,
        external_id_index=ext_index,
        external_id_sealed=cipher.seal(
            data.external_id.encode(),
            sealing.aad(subject_id, sealing.SUBJECT_SCOPE, subject_id, "external_id"),
        ),
        wrapped_dek=wrapped,
        created_by=ctx.principal.label,
    )
    if data.email:
        subject.email_index = _email_digest(rt, data.email)
        subject.email_sealed = cipher.seal(
            data.email.encode(),
            sealing.aad(subject_id, sealing.SUBJECT_SCOPE, subject_id, "email"),
        )
    session.add(subject)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("a subject with this external_id exists") from None
    fields = ["external_id", "email"] if data.email else ["external_id"]
    audit.append(session, ctx, action="subject.create", subject_id=subject_id, fields=fields)
    return subject


def get_subject(session: Session, subject_id: uuid.UUID) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"no subject with id {subject_id}")
    return subject


def describe(session: Session, subject: Subject) -> SubjectRead:
    counts = session.exec(
        select(Record.collection, func.count())
        .where(Record.subject_id == subject.id)
        .group_by(Record.collection)
    ).all()
    return SubjectRead(
        id=subject.id,
        created_at=subject.created_at,
        updated_at=subject.updated_at,
        created_by=subject.created_by,
        has_email=subject.email_index is not None,
        records={c: n for c, n in counts},
    )


def read_subject(session: Session, ctx: RequestContext, *, subject_id: uuid.UUID) -> SubjectRead:
    require_scope(ctx, "subjects:read", action="subject.read", subject_id=subject_id)
    subject = get_subject(session, subject_id)
    audit.append(session, ctx, action="subject.read", subject_id=subject_id)
    return describe(session, subject)


def find_subjects(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    external_id: str | None,
    email: str | None,
) -> list[SubjectRead]:
    require_scope(ctx, "subjects:read", action="subject.lookup")
    if bool(external_id) == bool(email):
        raise BadRequest("give exactly one of external_id or email")
    if external_id:
        query = select(Subject).where(
            Subject.external_id_index == _external_digest(rt, external_id)
        )
        by = "external_id"
    else:
        query = select(Subject).where(Subject.email_index == _email_digest(rt, email or ""))
        by = "email"
    found = list(session.exec(query.limit(1000)).all())
    for s in found:
        audit.append(session, ctx, action="subject.lookup", subject_id=s.id, fields=[by])
    if not found:
        audit.append(session, ctx, action="subject.lookup", outcome="not_found", fields=[by])
    return [describe(session, s) for s in found]
