"""A single-record read decides rules 7-9 from state columns of its one query
(`decide_one`); lists and searches use `decide_subjects`. Both must agree on every state."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import delete

from privacy.catalog.cache import PurposeSpec
from privacy.consent.models import ConsentState, Objection, Restriction
from privacy.db import new_session
from privacy.subjects.access import decide_one, decide_subjects
from privacy.subjects.records import _READ_ONE
from support.api import new_record, new_subject

BASES = ["consent", "contract", "legitimate_interests", "public_task", "legal_obligation"]
STATES = [None, False, True]  # no row, row saying no, row saying yes


def _set_state(session, sid, purpose, restricted, granted, objected):
    for model in (Restriction, ConsentState, Objection):
        session.execute(delete(model).where(model.subject_id == sid))
    if restricted is not None:
        session.add(
            Restriction(subject_id=sid, restricted=restricted, ground="accuracy", updated_by="t")
        )
    if granted is not None:
        session.add(
            ConsentState(
                subject_id=sid,
                purpose=purpose,
                granted=granted,
                policy_version="1",
                event_id=uuid.uuid4(),
            )
        )
    if objected is not None:
        session.add(Objection(subject_id=sid, purpose=purpose, objected=objected, updated_by="t"))
    # Rows for another purpose must not count.
    session.add(
        ConsentState(
            subject_id=sid,
            purpose="other",
            granted=not granted,
            policy_version="1",
            event_id=uuid.uuid4(),
        )
    )
    session.add(Objection(subject_id=sid, purpose="other", objected=not objected, updated_by="t"))
    session.flush()


def test_single_read_and_list_decide_alike_for_every_state(client, vault_app, runtime):
    sid = uuid.UUID(new_subject(client, vault_app))
    rid = uuid.UUID(new_record(client, vault_app, str(sid)))
    seen = set()
    with new_session(runtime.engine) as session:
        for basis, pid, restricted, granted, objected in itertools.product(
            BASES, ["support", "legal_claims"], STATES, STATES, STATES
        ):
            purpose = PurposeSpec(pid, basis, ("customers",), None)
            _set_state(session, sid, pid, restricted, granted, objected)
            row = _READ_ONE.first(session.connection(), {"record_id": rid, "purpose": pid})
            one = decide_one(purpose, row.restricted, row.granted, row.objected)
            many = decide_subjects(session, purpose, [sid])[sid]
            assert one == many, (basis, pid, restricted, granted, objected)
            seen.add(one.reason)
        session.rollback()
    # The matrix reached every outcome, so the comparison was not vacuous.
    assert {
        "restricted",
        "restricted_legal_claims",
        "consent_not_granted",
        "consent_withdrawn",
        "consent_granted",
        "objected",
        "legal_basis:contract",
        "legal_basis:legitimate_interests",
    } <= seen
