"""Consent service functions called directly: the subject principal, and the hash chain."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from privacy.consent import proof, queries
from privacy.consent.schemas import ConsentPut
from privacy.consent.service import record_consent
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.errors import Forbidden, InvalidData
from support.api import (
    CONSENT_APP_SCOPES,
    app_headers,
    new_subject,
    setup_consent_purposes,
    setup_customers,
)


def subject_ctx(*subject_ids: str) -> RequestContext:
    principal = Principal(
        kind="user",
        id="subject-session",
        roles=frozenset({"subject"}),
        scopes=frozenset(f"subject:{s}" for s in subject_ids),
    )
    return RequestContext(principal=principal)


class TestRecordConsent:
    def test_a_subject_records_its_own_consent_and_no_one_elses(self, client, admin, runtime):
        setup_customers(client, admin)
        setup_consent_purposes(client, admin)
        app = app_headers(client, admin, CONSENT_APP_SCOPES)
        mine, theirs = new_subject(client, app), new_subject(client, app)
        ctx = subject_ctx(mine)
        data = ConsentPut(granted=True, policy_version="2025-01")
        with new_session(runtime.engine) as session:
            out = record_consent(
                session,
                runtime,
                ctx,
                subject_id=uuid.UUID(mine),
                purpose_id="newsletter",
                data=data,
            )
            assert out.event.source == "privacy_center"
            assert out.event.actor == "user:subject-session"
            with pytest.raises(Forbidden):
                record_consent(
                    session,
                    runtime,
                    ctx,
                    subject_id=uuid.UUID(theirs),
                    purpose_id="newsletter",
                    data=data,
                )
            with pytest.raises(InvalidData):
                record_consent(
                    session,
                    runtime,
                    ctx,
                    subject_id=uuid.UUID(mine),
                    purpose_id="newsletter",
                    data=ConsentPut(granted=False, policy_version="1", source="import"),
                )
            session.rollback()

    def test_concurrent_changes_to_one_subject_keep_one_unbroken_chain(
        self, client, admin, runtime
    ):
        setup_customers(client, admin)
        setup_consent_purposes(client, admin)
        sid = uuid.UUID(new_subject(client, app_headers(client, admin, CONSENT_APP_SCOPES)))
        ctx = subject_ctx(str(sid))

        def change(i: int) -> None:
            data = ConsentPut(granted=i % 2 == 0, policy_version=f"v{i}")
            with new_session(runtime.engine) as session:
                record_consent(
                    session, runtime, ctx, subject_id=sid, purpose_id="newsletter", data=data
                )
                session.commit()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(change, range(8)))
        with new_session(runtime.engine) as session:
            events = queries.events(session, sid)
        assert [e.seq for e in events] == list(range(1, 9))
        assert proof.first_break(events) is None


@dataclass
class Ev:
    id: uuid.UUID
    subject_id: uuid.UUID
    seq: int
    purpose: str
    granted: bool
    policy_version: str
    source: str
    text_hash: str | None
    actor: str
    at: datetime
    prev_hash: str
    hash: str = ""


def chain(n: int) -> list[Ev]:
    sid, prev, out = uuid.uuid4(), proof.GENESIS, []
    for seq in range(1, n + 1):
        ev = Ev(
            uuid.uuid4(),
            sid,
            seq,
            "newsletter",
            seq % 2 == 1,
            "1",
            "app",
            None,
            "app:a",
            datetime(2026, 1, seq, tzinfo=UTC),
            prev,
        )
        ev.hash = proof.event_hash(ev)
        out.append(ev)
        prev = ev.hash
    return out


class TestFirstBreak:
    def test_an_intact_chain_holds(self):
        assert proof.first_break(chain(4)) is None

    def test_an_edit_a_removal_and_a_reordering_are_each_found(self):
        events = chain(4)
        assert (
            proof.first_break(
                [*events[:2], replace(events[2], granted=not events[2].granted), events[3]]
            )
            == 3
        )
        assert proof.first_break([events[0], *events[2:]]) == 3
        assert proof.first_break([events[0], events[2], events[1], events[3]]) == 3
        assert proof.first_break(events[1:]) == 2

    def test_a_rehashed_edit_still_breaks_the_next_link(self):
        events = chain(3)
        edited = replace(events[1], granted=not events[1].granted)
        edited.hash = proof.event_hash(edited)
        assert proof.first_break([events[0], edited, events[2]]) == 3
