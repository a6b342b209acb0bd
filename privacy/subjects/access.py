"""Purpose-bound access: may this caller read these fields of this collection, and why.

Rules, in order (the first that fails refuses the read, and the refusal is audited):
1. a purpose is named (400 otherwise);
2. the purpose exists (404);
3. the app holds the `records:read:<collection>` scope;
4. the app has been granted the purpose (`purpose:<id>` scope);
5. the purpose covers the collection;
6. fields asked for explicitly, and fields searched on, are all covered by the purpose
   (403 naming them). When no fields are asked for, the record comes back with the fields
   the purpose covers and the others are omitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from privacy.audit import service as audit
from privacy.catalog.models import Collection, Purpose
from privacy.context import RequestContext
from privacy.errors import Forbidden, NotFound, PrivacyError, PurposeRequired


@dataclass(frozen=True)
class ReadGrant:
    purpose: Purpose
    fields: list[str]


def _refuse(
    err: PrivacyError,
    ctx: RequestContext,
    action: str,
    collection: str | None,
    purpose: str | None,
    reason: str,
    subject_id: object = None,
    record_id: object = None,
) -> PrivacyError:
    err.audit = audit.event(
        ctx,
        action=action,
        outcome="denied",
        collection=collection,
        purpose=purpose,
        reason=reason,
        subject_id=subject_id,
        record_id=record_id,
    )
    return err


def authorise_read(
    session: Session,
    ctx: RequestContext,
    *,
    collection: Collection,
    purpose_id: str | None,
    requested: list[str] | None,
    action: str = "record.read",
    subject_id: object = None,
    record_id: object = None,
) -> ReadGrant:
    name = collection.name
    p = ctx.principal
    if not purpose_id:
        raise _refuse(
            PurposeRequired(
                "reading personal data requires a purpose: pass ?purpose= or the X-Purpose header"
            ),
            ctx,
            action,
            name,
            None,
            "purpose_missing",
            subject_id,
            record_id,
        )
    purpose = session.get(Purpose, purpose_id)
    if purpose is None:
        raise _refuse(
            NotFound(f"no purpose named {purpose_id!r}"),
            ctx,
            action,
            name,
            purpose_id,
            "purpose_unknown",
            subject_id,
            record_id,
        )
    if not p.has_scope(f"records:read:{name}"):
        raise _refuse(
            Forbidden(f"this app may not read the collection {name!r}"),
            ctx,
            action,
            name,
            purpose_id,
            "scope",
            subject_id,
            record_id,
        )
    if not p.has_scope(f"purpose:{purpose_id}"):
        raise _refuse(
            Forbidden(f"this app has not been granted the purpose {purpose_id!r}"),
            ctx,
            action,
            name,
            purpose_id,
            "purpose_not_granted",
            subject_id,
            record_id,
        )
    if name not in purpose.collections:
        raise _refuse(
            Forbidden(f"the purpose {purpose_id!r} does not cover the collection {name!r}"),
            ctx,
            action,
            name,
            purpose_id,
            "purpose_collection",
            subject_id,
            record_id,
        )
    defined = [f["name"] for f in collection.fields]
    allowed = [f for f in defined if purpose.fields is None or f in purpose.fields]
    if requested:
        unknown = sorted(set(requested) - set(defined))
        if unknown:
            raise NotFound(f"not fields of {name!r}: {', '.join(unknown)}")
        outside = sorted(set(requested) - set(allowed))
        if outside:
            raise _refuse(
                Forbidden(
                    f"the purpose {purpose_id!r} does not cover the field(s) {', '.join(outside)}"
                ),
                ctx,
                action,
                name,
                purpose_id,
                "purpose_fields",
                subject_id,
                record_id,
            )
        return ReadGrant(purpose, [f for f in defined if f in requested])
    return ReadGrant(purpose, allowed)


def require_covered(
    ctx: RequestContext, grant: ReadGrant, names: list[str], *, collection: str, action: str
) -> None:
    """Fields used to select records (search criteria) must be covered by the purpose too:
    a match reveals the value as surely as reading it."""
    if grant.purpose.fields is None:
        return
    outside = sorted(set(names) - set(grant.purpose.fields))
    if outside:
        raise _refuse(
            Forbidden(
                f"the purpose {grant.purpose.id!r} does not cover the field(s) {', '.join(outside)}"
            ),
            ctx,
            action,
            collection,
            grant.purpose.id,
            "purpose_fields",
        )


def require_scope(
    ctx: RequestContext,
    scope: str,
    *,
    action: str,
    collection: str | None = None,
    subject_id: object = None,
) -> None:
    if ctx.principal.has_role("app") and not ctx.principal.has_scope(scope):
        raise _refuse(
            Forbidden(f"this app lacks the scope {scope!r}"),
            ctx,
            action,
            collection,
            None,
            "scope",
            subject_id,
        )
