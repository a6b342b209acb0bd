"""What each request type does once its identity is verified. Each returns the request's
`result` (names, ids and counts; never personal data values).

Erasure is done by `privacy.erasure.service.erase_subject` when that module is installed;
until then an erasure request is refused with 501 (nothing is filed).
"""

from __future__ import annotations

import importlib
import importlib.util
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col

from privacy.consent import service as consent
from privacy.context import RequestContext
from privacy.errors import NotFound, PrivacyError
from privacy.requests.models import DataSubjectRequest
from privacy.runtime import Runtime
from privacy.subject_auth.models import SignInCode
from privacy.subjects import records
from privacy.subjects.models import Record, Subject

ERASURE_MODULE = "privacy.erasure.service"


class ErasureUnavailable(PrivacyError):
    status, code, title = 501, "erasure-unavailable", "Not implemented"


def _erasure_function() -> Callable[..., dict[str, Any]] | None:
    # find_spec, not a caught ImportError: a broken erasure module must fail loudly.
    parent = ERASURE_MODULE.rpartition(".")[0]
    if importlib.util.find_spec(parent) is None or importlib.util.find_spec(ERASURE_MODULE) is None:
        return None
    return getattr(importlib.import_module(ERASURE_MODULE), "erase_subject", None)


def require_erasure() -> Callable[..., dict[str, Any]]:
    erase = _erasure_function()
    if erase is None:
        raise ErasureUnavailable(
            "erasure executor not installed: this deployment cannot erase subjects yet, "
            "so no erasure request was filed"
        )
    return erase


def run(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    req: DataSubjectRequest,
    *,
    changes: dict[str, Any] | None,
) -> dict[str, Any]:
    if req.type in ("access", "portability"):
        from privacy.requests import export

        return export.build(session, rt, ctx, req)
    if req.type == "rectification":
        return rectify(session, rt, ctx, req, changes or {})
    if req.type == "restriction":
        lift = bool(req.params.get("lift"))
        state = consent.set_restriction(
            session,
            ctx,
            subject_id=req.subject_id,
            restricted=not lift,
            reason=req.params.get("ground"),
        )
        return {"restricted": state.restricted, "ground": state.reason}
    if req.type == "objection":
        purpose = str(req.params["purpose"])
        row = consent.set_objection(
            session,
            ctx,
            subject_id=req.subject_id,
            purpose_id=purpose,
            objected=not req.params.get("lift"),
        )
        return {"purpose": purpose, "objected": row.objected}
    if req.type == "erasure":
        return erase(session, rt, ctx, req)
    raise ValueError(f"unknown request type {req.type!r}")


def erase(
    session: Session, rt: Runtime, ctx: RequestContext, req: DataSubjectRequest
) -> dict[str, Any]:
    """Destroy the subject's export archives, pending rectification values and sign-in
    codes, then erase it (privacy.erasure; that service commits in batches and notifies
    holding apps). A live subject session (ids only) ends with its token."""
    from privacy.requests.downloads import destroy_exports

    erase_subject = require_erasure()
    exports = destroy_exports(session, ctx, rt, req.subject_id)
    session.execute(
        update(DataSubjectRequest)
        .where(
            col(DataSubjectRequest.subject_id) == req.subject_id,
            col(DataSubjectRequest.sealed_changes).is_not(None),
        )
        .values(sealed_changes=None)
    )
    subject = session.get(Subject, req.subject_id)
    if subject is not None and subject.email_index is not None:
        # Sign-in codes name the address only by its digest, but go with the subject.
        session.execute(
            delete(SignInCode).where(col(SignInCode.email_index) == subject.email_index)
        )
    result = erase_subject(session, rt, ctx, req.subject_id, request_id=req.id)
    return {**result, "exports_destroyed": exports}


def rectify(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    req: DataSubjectRequest,
    changes: dict[str, Any],
) -> dict[str, Any]:
    """Apply validated changes through the records service (which audits field names)."""
    for collection, recs in changes.items():
        for rid, data in recs.items():
            record_id = uuid.UUID(rid)
            record = session.get(Record, record_id)
            if record is None or record.subject_id != req.subject_id:
                raise NotFound(f"record {record_id} no longer exists for this subject")
            records.update_record(
                session, rt, ctx, collection=collection, record_id=record_id, data=data
            )
    return {"rectified": req.params.get("fields", {})}
