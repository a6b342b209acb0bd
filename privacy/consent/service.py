"""The consent ledger, restriction and objection: who agreed to what, when, and proof of it.

Consent is recorded as append-only events, hash-linked per subject (`privacy.consent.proof`),
plus a current-state row per (subject, purpose) that reads are checked against in the same
transaction (`privacy.subjects.access.decide_subjects`). Each grant or withdrawal returns a
receipt signed by a Vault-held key. Every change and every read of this state is audited.
These functions serve apps, DPOs and (once it can sign in) the subject itself; the
data-subject requests call `set_restriction` and `set_objection` too.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.catalog.models import Purpose
from privacy.catalog.service import get_purpose
from privacy.consent import proof, queries, receipts
from privacy.consent.models import ConsentEvent, ConsentState, ConsentText, Objection, Restriction
from privacy.consent.schemas import (
    ConsentEventRead,
    ConsentHistory,
    ConsentOverview,
    ConsentPut,
    ConsentRecorded,
    ConsentStateRead,
    ObjectionRead,
    ReceiptVerification,
    ReceiptVerify,
    RestrictionRead,
    SignedReceipt,
)
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.errors import BadRequest, InvalidData, NotFound
from privacy.runtime import Runtime
from privacy.schemas import decode_cursor, page_of
from privacy.subjects.access import (
    LEGAL_CLAIMS,
    OBJECTABLE_BASES,
    require_subject_access,
)
from privacy.subjects.models import Subject

RECEIPT_VERSION = 1


def _subject(session: Session, subject_id: uuid.UUID, *, lock: bool = False) -> Subject:
    query = select(Subject).where(Subject.id == subject_id)
    # Serialises changes to one subject's chain (SQLite serialises every writer anyway).
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None:
        raise NotFound(f"no subject with id {subject_id}")
    return found


def _default_source(ctx: RequestContext, given: str | None) -> str:
    if ctx.principal.has_role("subject"):
        if given not in (None, "privacy_center"):
            raise InvalidData("source: a subject records its own consent in the privacy center")
        return "privacy_center"
    return given or "app"


def record_consent(
    session: Session,
    rt: Runtime,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    purpose_id: str,
    data: ConsentPut,
) -> ConsentRecorded:
    """Grant or withdraw consent: append an event, update the state, return a signed receipt.

    Withdrawing takes the same call as granting (Art. 7(3)) and applies to the next read.
    """
    action = "consent.grant" if data.granted else "consent.withdraw"
    purpose = get_purpose(session, purpose_id)
    require_subject_access(
        ctx, subject_id, scope="subjects:write", action=action, purpose=purpose_id
    )
    if purpose.legal_basis != "consent":
        raise InvalidData(
            f"the purpose {purpose_id!r} has the legal basis {purpose.legal_basis!r}: "
            "consent is recorded only for purposes whose legal basis is consent"
        )
    source = _default_source(ctx, data.source)
    event = _append(
        session, ctx, subject_id=subject_id, purpose_id=purpose_id, data=data, source=source
    )
    session.flush()
    audit.append(
        session,
        ctx,
        action=action,
        subject_id=subject_id,
        purpose=purpose_id,
        reason=f"policy:{data.policy_version};source:{source}",
    )
    signed = receipts.sign(rt, consent_receipt(event))
    return ConsentRecorded(
        event=ConsentEventRead.model_validate(event), receipt=SignedReceipt(**signed)
    )


def _append(
    session: Session,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    purpose_id: str,
    data: ConsentPut,
    source: str,
) -> ConsentEvent:
    """Add the subject's next event, linked to its last one, and update the state."""
    _subject(session, subject_id, lock=True)
    digest = proof.text_hash(data.text) if data.text is not None else data.text_hash
    if data.text is not None:
        queries.insert_ignore(
            session, ConsentText, hash=digest, text=data.text, created_at=utcnow()
        )
    last = queries.last_event(session, subject_id)
    event = ConsentEvent(
        subject_id=subject_id,
        seq=last.seq + 1 if last else 1,
        purpose=purpose_id,
        granted=data.granted,
        policy_version=data.policy_version,
        source=source,
        text_hash=digest,
        actor=ctx.principal.label,
        prev_hash=last.hash if last else proof.GENESIS,
        hash="",
    )
    event.hash = proof.event_hash(event)
    session.add(event)
    _set_state(session, event)
    return event


def _set_state(session: Session, event: ConsentEvent) -> None:
    state = session.get(ConsentState, (event.subject_id, event.purpose))
    if state is None:
        state = ConsentState(
            subject_id=event.subject_id,
            purpose=event.purpose,
            granted=False,
            policy_version="",
            event_id=event.id,
        )
    state.granted = event.granted
    state.policy_version = event.policy_version
    state.event_id = event.id
    state.updated_at = event.at
    session.add(state)


def consent_receipt(event: ConsentEvent) -> dict[str, Any]:
    """The signed part of a consent receipt (see privacy.consent.receipts for the format)."""
    fields = proof.hashed_fields(event)
    return {
        "type": "consent",
        "version": RECEIPT_VERSION,
        "event_id": fields.pop("id"),
        "event_hash": event.hash,
        **fields,
    }


def _visible(ctx: RequestContext, purpose: str) -> bool:
    """Apps see the consent state of the purposes they hold; staff and the subject all."""
    p = ctx.principal
    return not p.has_role("app") or p.has_scope(f"purpose:{purpose}")


def consent_history(
    session: Session,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    purpose: str | None,
    include_text: bool,
    limit: int,
    cursor: str | None,
) -> ConsentHistory:
    """The subject's events, oldest first, and whether its whole chain holds."""
    require_subject_access(ctx, subject_id, scope="subjects:read", action="consent.history")
    _subject(session, subject_id)
    chain = queries.events(session, subject_id)
    bad = proof.first_break(chain)
    after = decode_cursor(cursor)
    shown = [
        e
        for e in chain
        if (purpose is None or e.purpose == purpose)
        and _visible(ctx, e.purpose)
        and (after is None or e.seq > _int_cursor(after))
    ]
    page, next_cursor = page_of(shown[: limit + 1], limit, lambda e: e.seq)
    texts = _texts(session, {e.text_hash for e in page if e.text_hash}) if include_text else {}
    items = [
        ConsentEventRead.model_validate(e).model_copy(update={"text": texts.get(e.text_hash)})
        for e in page
    ]
    audit.append(session, ctx, action="consent.history", subject_id=subject_id, purpose=purpose)
    return ConsentHistory(
        subject_id=subject_id,
        items=items,
        next_cursor=next_cursor,
        verified=bad is None,
        first_bad_seq=bad,
        head_hash=chain[-1].hash if chain else proof.GENESIS,
    )


def _int_cursor(key: Any) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    raise BadRequest("the cursor is not one this service issued")


def _texts(session: Session, hashes: set[str]) -> dict[str, str]:
    if not hashes:
        return {}
    rows = session.exec(select(ConsentText).where(col(ConsentText.hash).in_(hashes))).all()
    return {t.hash: t.text for t in rows}


def consent_overview(
    session: Session, ctx: RequestContext, *, subject_id: uuid.UUID
) -> ConsentOverview:
    """Current consent per purpose, with the subject's restriction and objections."""
    require_subject_access(ctx, subject_id, scope="subjects:read", action="consent.read")
    _subject(session, subject_id)
    purposes = {p.id: p for p in session.exec(select(Purpose)).all()}
    states = {
        s.purpose: s
        for s in session.exec(select(ConsentState).where(ConsentState.subject_id == subject_id))
    }
    names = {pid for pid, p in purposes.items() if p.legal_basis == "consent"} | set(states)
    items = [
        _state_read(pid, purposes.get(pid), states.get(pid))
        for pid in sorted(names)
        if _visible(ctx, pid)
    ]
    objections = session.exec(
        select(Objection).where(Objection.subject_id == subject_id).order_by(Objection.purpose)
    ).all()
    audit.append(session, ctx, action="consent.read", subject_id=subject_id)
    return ConsentOverview(
        subject_id=subject_id,
        items=items,
        restriction=_restriction_read(session, subject_id),
        objections=[
            ObjectionRead.model_validate(o) for o in objections if _visible(ctx, o.purpose)
        ],
    )


def _state_read(pid: str, purpose: Purpose | None, state: ConsentState | None) -> ConsentStateRead:
    basis = purpose.legal_basis if purpose else None
    if state is None:
        return ConsentStateRead(purpose=pid, legal_basis=basis, granted=False)
    return ConsentStateRead(
        purpose=pid,
        legal_basis=basis,
        granted=state.granted,
        policy_version=state.policy_version,
        event_id=state.event_id,
        updated_at=state.updated_at,
    )


def _restriction_read(session: Session, subject_id: uuid.UUID) -> RestrictionRead:
    row = session.get(Restriction, subject_id)
    if row is None:
        return RestrictionRead(subject_id=subject_id, restricted=False)
    return RestrictionRead(
        subject_id=subject_id,
        restricted=row.restricted,
        reason=row.ground,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def get_restriction(
    session: Session, ctx: RequestContext, *, subject_id: uuid.UUID
) -> RestrictionRead:
    require_subject_access(ctx, subject_id, scope="subjects:read", action="restriction.read")
    _subject(session, subject_id)
    audit.append(session, ctx, action="restriction.read", subject_id=subject_id)
    return _restriction_read(session, subject_id)


def set_restriction(
    session: Session,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    restricted: bool,
    reason: str | None,
) -> RestrictionRead:
    """Restrict (Art. 18) or lift: while restricted, reads are served only for legal_claims."""
    action = "restriction.set" if restricted else "restriction.lift"
    require_subject_access(ctx, subject_id, scope="subjects:write", action=action)
    _subject(session, subject_id, lock=True)
    row = session.get(Restriction, subject_id)
    if row is None:
        row = Restriction(subject_id=subject_id, restricted=restricted, ground="", updated_by="")
    row.restricted = restricted
    row.ground = reason or row.ground or "other"
    row.updated_by = ctx.principal.label
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.append(session, ctx, action=action, subject_id=subject_id, reason=row.ground)
    return _restriction_read(session, subject_id)


def set_objection(
    session: Session,
    ctx: RequestContext,
    *,
    subject_id: uuid.UUID,
    purpose_id: str,
    objected: bool,
) -> ObjectionRead:
    """Object (Art. 21) to a legitimate-interest or public-task purpose, or withdraw it."""
    action = "objection.set" if objected else "objection.lift"
    purpose = get_purpose(session, purpose_id)
    require_subject_access(
        ctx, subject_id, scope="subjects:write", action=action, purpose=purpose_id
    )
    if purpose.legal_basis not in OBJECTABLE_BASES or purpose_id == LEGAL_CLAIMS:
        raise InvalidData(
            f"the purpose {purpose_id!r} has the legal basis {purpose.legal_basis!r}: "
            "objections apply to legitimate_interests and public_task purposes other than "
            f"{LEGAL_CLAIMS!r} (withdraw consent for consent-based ones)"
        )
    _subject(session, subject_id, lock=True)
    row = session.get(Objection, (subject_id, purpose_id))
    if row is None:
        row = Objection(subject_id=subject_id, purpose=purpose_id, objected=objected, updated_by="")
    row.objected = objected
    row.updated_by = ctx.principal.label
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.append(
        session,
        ctx,
        action=action,
        subject_id=subject_id,
        purpose=purpose_id,
        reason=f"legal_basis:{purpose.legal_basis}",
    )
    return ObjectionRead.model_validate(row)


def verify_receipt(session: Session, rt: Runtime, *, body: ReceiptVerify) -> ReceiptVerification:
    """Check a receipt's signature and, for a consent receipt, that the ledger still holds it."""
    valid = receipts.verify(rt, body.receipt, body.signature, body.key_name)
    in_ledger = None
    if valid and body.receipt.get("type") == "consent":
        in_ledger = _in_ledger(session, body.receipt)
    return ReceiptVerification(
        valid=valid,
        key_name=rt.settings.receipt_key_name,
        key_version=receipts.key_version(body.signature) if valid else None,
        in_ledger=in_ledger,
    )


def _in_ledger(session: Session, receipt: dict[str, Any]) -> bool:
    try:
        event_id = uuid.UUID(str(receipt.get("event_id")))
    except ValueError:
        return False
    event = session.get(ConsentEvent, event_id)
    return event is not None and event.hash == receipt.get("event_hash")
