"""Reads of consent, restriction and objection state, always from the caller's transaction
(never cached: a withdrawal committed before a read began is what that read sees)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from privacy.consent.models import ConsentEvent, ConsentState, Objection, Restriction


def restricted_among(session: Session, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = session.exec(
        select(Restriction.subject_id).where(
            col(Restriction.subject_id).in_(list(ids)), col(Restriction.restricted).is_(True)
        )
    ).all()
    return set(rows)


def consent_among(
    session: Session, ids: Collection[uuid.UUID], purpose: str
) -> dict[uuid.UUID, bool]:
    """Current consent per subject for `purpose`; subjects never asked are absent."""
    if not ids:
        return {}
    rows = session.exec(
        select(ConsentState.subject_id, ConsentState.granted).where(
            col(ConsentState.subject_id).in_(list(ids)), ConsentState.purpose == purpose
        )
    ).all()
    return dict(rows)


def objected_among(session: Session, ids: Collection[uuid.UUID], purpose: str) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = session.exec(
        select(Objection.subject_id).where(
            col(Objection.subject_id).in_(list(ids)),
            Objection.purpose == purpose,
            col(Objection.objected).is_(True),
        )
    ).all()
    return set(rows)


def events(session: Session, subject_id: uuid.UUID) -> list[ConsentEvent]:
    query = select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
    return list(session.exec(query.order_by(col(ConsentEvent.seq))).all())


def last_event(session: Session, subject_id: uuid.UUID) -> ConsentEvent | None:
    query = select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
    return session.exec(query.order_by(col(ConsentEvent.seq).desc()).limit(1)).first()


def insert_ignore(session: Session, model: Any, **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (for rows that many requests may add at once)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())
