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

Then, per subject whose records are read (`decide_subjects`, from the current state in the
caller's transaction, never cached):
7. a restricted subject (Art. 18) is read only for the purpose `legal_claims`, and such a
   read is flagged (`restricted_legal_claims`);
8. for a purpose whose legal basis is `consent`, the subject's consent is granted now;
9. for a `legitimate_interests` or `public_task` purpose, the subject has not objected
   (Art. 21); `legal_claims` reads go on despite an objection (Art. 21(1)).
A read of one record, or of one subject's records, is refused (403); a search leaves out
the records of subjects that fail 7-9 and audits each left-out record as denied.

Every decision names its rule in the audit entry's `reason`: refusals `purpose_missing`,
`purpose_unknown`, `scope`, `purpose_not_granted`, `purpose_collection`, `purpose_fields`,
`restricted`, `consent_not_granted`, `consent_withdrawn`, `objected`; allowed reads
`consent_granted`, `restricted_legal_claims` or `legal_basis:<basis>`. The 403's problem
body carries the same name as `rule`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from privacy.audit import service as audit
from privacy.catalog.cache import Catalog, CollectionSpec, PurposeSpec
from privacy.consent import queries
from privacy.context import Principal, RequestContext
from privacy.errors import Forbidden, NotFound, PrivacyError, PurposeRequired

# The one purpose a restricted subject's records may be read for. It must be declared in
# the catalog like any other purpose, with one of these legal bases.
LEGAL_CLAIMS = "legal_claims"
LEGAL_CLAIMS_BASES = ("legal_obligation", "legitimate_interests")
# Art. 21(1): a subject may object to processing on these bases.
OBJECTABLE_BASES = ("legitimate_interests", "public_task")


@dataclass(frozen=True)
class ReadGrant:
    purpose: PurposeSpec
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
    err.extra.setdefault("rule", reason)
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
    catalog: Catalog,
    ctx: RequestContext,
    *,
    collection: CollectionSpec,
    purpose_id: str | None,
    requested: list[str] | None,
    action: str = "record.read",
    subject_id: object = None,
    record_id: object = None,
) -> ReadGrant:
    name = collection.name
    p = ctx.principal

    def refuse(err: PrivacyError, reason: str) -> PrivacyError:
        purpose = purpose_id or None
        return _refuse(err, ctx, action, name, purpose, reason, subject_id, record_id)

    if not purpose_id:
        raise refuse(
            PurposeRequired(
                "reading personal data requires a purpose: pass ?purpose= or the X-Purpose header"
            ),
            "purpose_missing",
        )
    purpose = catalog.purposes.get(purpose_id)
    if purpose is None:
        raise refuse(NotFound(f"no purpose named {purpose_id!r}"), "purpose_unknown")
    if not p.has_scope(f"records:read:{name}"):
        raise refuse(Forbidden(f"this app may not read the collection {name!r}"), "scope")
    if not p.has_scope(f"purpose:{purpose_id}"):
        raise refuse(
            Forbidden(f"this app has not been granted the purpose {purpose_id!r}"),
            "purpose_not_granted",
        )
    if name not in purpose.collections:
        raise refuse(
            Forbidden(f"the purpose {purpose_id!r} does not cover the collection {name!r}"),
            "purpose_collection",
        )
    defined = [f["name"] for f in collection.fields]
    allowed = [f for f in defined if purpose.fields is None or f in purpose.fields]
    if requested:
        unknown = sorted(set(requested) - set(defined))
        if unknown:
            raise NotFound(f"not fields of {name!r}: {', '.join(unknown)}")
        outside = sorted(set(requested) - set(allowed))
        if outside:
            raise refuse(
                Forbidden(
                    f"the purpose {purpose_id!r} does not cover the field(s) {', '.join(outside)}"
                ),
                "purpose_fields",
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


@dataclass(frozen=True)
class SubjectDecision:
    allowed: bool
    reason: str
    detail: str = ""


def decide_subjects(
    session: Session, purpose: PurposeSpec, subject_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SubjectDecision]:
    """Rules 7-9 for each subject, from state read now in the caller's transaction."""
    ids = set(subject_ids)
    restricted = queries.restricted_among(session, ids)
    consent: dict[uuid.UUID, bool] = {}
    if purpose.legal_basis == "consent":
        consent = queries.consent_among(session, ids, purpose.id)
    objected: set[uuid.UUID] = set()
    if purpose.legal_basis in OBJECTABLE_BASES and purpose.id != LEGAL_CLAIMS:
        objected = queries.objected_among(session, ids, purpose.id)
    return {
        sid: _decide(purpose, sid in restricted, consent.get(sid), sid in objected) for sid in ids
    }


def _decide(
    purpose: PurposeSpec, restricted: bool, consent: bool | None, objected: bool
) -> SubjectDecision:
    pid = purpose.id
    if restricted:
        if pid == LEGAL_CLAIMS:
            return SubjectDecision(True, "restricted_legal_claims")
        return SubjectDecision(
            False,
            "restricted",
            "refused by the restriction rule: processing of this subject is restricted "
            f"(GDPR Art. 18); its records are read only for the purpose {LEGAL_CLAIMS!r}",
        )
    if purpose.legal_basis == "consent":
        if consent is None:
            return SubjectDecision(
                False,
                "consent_not_granted",
                "refused by the consent rule: the subject has not consented to the purpose "
                f"{pid!r}",
            )
        if not consent:
            return SubjectDecision(
                False,
                "consent_withdrawn",
                f"refused by the consent rule: the subject withdrew consent to the purpose {pid!r}",
            )
        return SubjectDecision(True, "consent_granted")
    if objected:
        return SubjectDecision(
            False,
            "objected",
            "refused by the objection rule: the subject objected to the purpose "
            f"{pid!r} (GDPR Art. 21)",
        )
    return SubjectDecision(True, f"legal_basis:{purpose.legal_basis}")


def authorise_subject(
    session: Session,
    ctx: RequestContext,
    grant: ReadGrant,
    subject_id: uuid.UUID,
    *,
    action: str,
    collection: str,
    record_id: object = None,
) -> str:
    """Rules 7-9 for one subject: the reason to audit the read with, or a 403 (audited)."""
    decision = decide_subjects(session, grant.purpose, [subject_id])[subject_id]
    return enforce(ctx, grant, subject_id, decision, action, collection, record_id)


def decide_one(
    purpose: PurposeSpec, restricted: bool | None, consent: bool | None, objected: bool | None
) -> SubjectDecision:
    """Rules 7-9 from one subject's state rows as read (by the caller, in its transaction):
    its restriction flag, its consent to `purpose` and its objection to it (None: no row).
    Gives the same answer as `decide_subjects` on the same state."""
    consent = consent if purpose.legal_basis == "consent" else None
    objects = purpose.legal_basis in OBJECTABLE_BASES and purpose.id != LEGAL_CLAIMS
    return _decide(purpose, bool(restricted), consent, objects and bool(objected))


def enforce(
    ctx: RequestContext,
    grant: ReadGrant,
    subject_id: uuid.UUID,
    decision: SubjectDecision,
    action: str,
    collection: str,
    record_id: object = None,
) -> str:
    """The reason to audit an allowed read with; a refused one raises a 403 (audited)."""
    if not decision.allowed:
        raise _refuse(
            Forbidden(decision.detail),
            ctx,
            action,
            collection,
            grant.purpose.id,
            decision.reason,
            subject_id,
            record_id,
        )
    return decision.reason


def omit_refused(
    session: Session,
    ctx: RequestContext,
    grant: ReadGrant,
    records: list[Any],
    *,
    collection: str,
    action: str = "record.read",
) -> tuple[list[Any], dict[uuid.UUID, str]]:
    """A search may match many subjects: leave out the records of those that rules 7-9
    refuse, each audited as a denied read, so that the caller learns nothing about them.

    Returns the records kept and, per kept subject, the reason to audit its reads with.
    """
    decisions = decide_subjects(session, grant.purpose, {r.subject_id for r in records})
    kept, refused = [], []
    for record in records:
        decision = decisions[record.subject_id]
        if decision.allowed:
            kept.append(record)
            continue
        refused.append(
            audit.event(
                ctx,
                action=action,
                outcome="denied",
                subject_id=record.subject_id,
                collection=collection,
                record_id=record.id,
                purpose=grant.purpose.id,
                reason=decision.reason,
            )
        )
    audit.insert_events(session, refused)
    return kept, {sid: d.reason for sid, d in decisions.items() if d.allowed}


def acts_for(principal: Principal, subject_id: uuid.UUID) -> bool:
    """A `subject` principal holds a `subject:<id>` scope for each subject it may act for."""
    return principal.has_role("subject") and principal.has_scope(f"subject:{subject_id}")


def require_subject_access(
    ctx: RequestContext,
    subject_id: uuid.UUID,
    *,
    scope: str,
    action: str,
    purpose: str | None = None,
) -> None:
    """Who may read or change one subject's consent, restriction or objection state: a
    subject principal only for itself; an app holding `scope` and, when a purpose is named,
    `purpose:<id>`. Staff roles are checked by the route."""
    p = ctx.principal
    if p.has_role("subject"):
        if not acts_for(p, subject_id):
            raise _refuse(
                Forbidden("a data subject may act only for itself"),
                ctx,
                action,
                None,
                purpose,
                "own_data_only",
                subject_id,
            )
        return
    require_scope(ctx, scope, action=action, subject_id=subject_id)
    if purpose is not None and p.has_role("app") and not p.has_scope(f"purpose:{purpose}"):
        raise _refuse(
            Forbidden(f"this app has not been granted the purpose {purpose!r}"),
            ctx,
            action,
            None,
            purpose,
            "purpose_not_granted",
            subject_id,
        )
