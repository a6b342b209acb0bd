"""The purge engine against real SQLite and PostgreSQL: every trigger, every action, holds,
dry runs, batches and their audit entries, boundaries across time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from privacy.context import Principal, RequestContext
from privacy.retention import service
from privacy.retention.policy import RetentionConfig, load_retention
from support.api import audit_rows
from support.retention import (
    add_collection,
    add_purpose,
    add_records,
    add_subject,
    count,
    set_consent,
    use_policies,
)

CTX = RequestContext(Principal(kind="system", id="test"))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def policy(pid="p", *, period="P30D", trigger="created", action="delete", extra="", scope=None):
    scope = scope or 'collections = ["tickets"]'
    return (
        f'[[policy]]\nid = "{pid}"\n{scope}\nperiod = "{period}"\ntrigger = "{trigger}"\n'
        f'action = "{action}"\n{extra}\n'
    )


def records(rt, collection="tickets"):
    return count(rt, "SELECT COUNT(*) FROM records WHERE collection = :c", c=collection)


def outcome(report, pid="p"):
    return next(p for p in report.policies if p.id == pid)


@pytest.fixture
def rt(runtime):
    add_collection(runtime, "tickets", {"email": "contact", "body": "content"})
    add_collection(runtime, "invoices", {"amount": "financial"})
    use_policies(runtime, policy())
    return runtime


class TestCreatedTrigger:
    def test_deletes_expired_and_keeps_the_rest(self, rt):
        s = add_subject(rt, at=NOW - timedelta(days=100))
        add_records(rt, "tickets", s, n=3, created=NOW - timedelta(days=31))
        add_records(rt, "tickets", s, n=2, created=NOW - timedelta(days=29))
        report = service.purge(rt, CTX, now=NOW)
        got = outcome(report)
        assert (got.matched, got.purged, got.held) == (3, 3, 0)
        assert records(rt) == 2
        assert count(rt, "SELECT COUNT(*) FROM blind_index") == 2

    def test_one_second_before_expiry_is_kept_and_at_or_after_it_goes(self, rt):
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, created=NOW - timedelta(days=30) + timedelta(seconds=1))
        add_records(rt, "tickets", s, created=NOW - timedelta(days=30) - timedelta(seconds=1))
        assert outcome(service.purge(rt, CTX, now=NOW)).purged == 1
        assert records(rt) == 1
        assert outcome(service.purge(rt, CTX, now=NOW + timedelta(seconds=1))).purged == 1
        assert records(rt) == 0

    def test_other_collections_are_not_touched(self, rt):
        s = add_subject(rt, at=NOW)
        add_records(rt, "invoices", s, created=NOW - timedelta(days=999), fields=["amount"])
        service.purge(rt, CTX, now=NOW)
        assert records(rt, "invoices") == 1


class TestBoundariesAcrossZones:
    def test_a_day_across_the_dst_change_is_24_hours_of_utc(self, rt):
        use_policies(rt, policy(period="P1D"))
        berlin = ZoneInfo("Europe/Berlin")
        created = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # 11:00 UTC, CET
        s = add_subject(rt, at=created)
        add_records(rt, "tickets", s, created=created)
        # 2026-03-29 12:59:59 CEST is 10:59:59 UTC: 24 h minus one second.
        before = datetime(2026, 3, 29, 12, 59, 59, tzinfo=berlin)
        assert outcome(service.purge(rt, CTX, now=before)).matched == 0
        after = datetime(2026, 3, 29, 13, 0, 1, tzinfo=berlin)
        assert outcome(service.purge(rt, CTX, now=after)).purged == 1

    def test_same_instant_in_another_zone_gives_the_same_answer(self, rt):
        use_policies(rt, policy(period="P1M"))
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, created=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
        tokyo = ZoneInfo("Asia/Tokyo")
        # 2026-02-15 23:29:59 UTC is 08:29:59 on the 16th in Tokyo: still one second early.
        early = datetime(2026, 2, 16, 8, 29, 59, tzinfo=tokyo)
        assert outcome(service.purge(rt, CTX, now=early)).matched == 0
        on_time = datetime(2026, 2, 16, 8, 30, 1, tzinfo=tokyo)
        assert outcome(service.purge(rt, CTX, now=on_time)).purged == 1


class TestUpdatedTrigger:
    def test_counts_from_the_last_change(self, rt):
        use_policies(rt, policy(trigger="updated"))
        s = add_subject(rt, at=NOW)
        old = NOW - timedelta(days=300)
        add_records(rt, "tickets", s, created=old, updated=NOW - timedelta(days=31))
        add_records(rt, "tickets", s, created=old, updated=NOW - timedelta(days=5))
        assert outcome(service.purge(rt, CTX, now=NOW)).purged == 1
        assert records(rt) == 1


class TestConsentWithdrawnTrigger:
    @pytest.fixture
    def consent_rt(self, rt):
        add_purpose(rt, "newsletter", ["tickets"])
        use_policies(rt, policy(trigger="consent_withdrawn", scope='purposes = ["newsletter"]'))
        return rt

    def test_withdrawn_long_enough_ago_goes(self, consent_rt):
        rt = consent_rt
        gone, recent, granted = (add_subject(rt, at=NOW) for _ in range(3))
        for s in (gone, recent, granted):
            add_records(rt, "tickets", s, created=NOW - timedelta(days=400))
        set_consent(rt, gone, "newsletter", granted=False, at=NOW - timedelta(days=31))
        set_consent(rt, recent, "newsletter", granted=False, at=NOW - timedelta(days=3))
        set_consent(rt, granted, "newsletter", granted=True, at=NOW - timedelta(days=300))
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged) == (1, 1)
        assert count(rt, "SELECT COUNT(*) FROM records WHERE subject_id = :s", s=gone.hex) == 0
        assert count(rt, "SELECT COUNT(*) FROM records") == 2

    def test_still_granted_for_another_covering_purpose_is_kept(self, consent_rt):
        rt = consent_rt
        add_purpose(rt, "support", ["tickets"])
        use_policies(rt, policy(trigger="consent_withdrawn"))  # by collection: all purposes
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, created=NOW - timedelta(days=400))
        set_consent(rt, s, "newsletter", granted=False, at=NOW - timedelta(days=60))
        set_consent(rt, s, "support", granted=True, at=NOW - timedelta(days=60))
        assert outcome(service.purge(rt, CTX, now=NOW)).matched == 0
        set_consent(rt, s, "support", granted=False, at=NOW - timedelta(days=40))
        assert outcome(service.purge(rt, CTX, now=NOW)).purged == 1


class TestSubjectInactiveTrigger:
    def test_only_subjects_without_recent_activity(self, rt):
        use_policies(rt, policy(trigger="subject_inactive", period="P1Y"))
        idle = add_subject(rt, at=NOW - timedelta(days=800))
        add_records(rt, "tickets", idle, created=NOW - timedelta(days=700))
        busy = add_subject(rt, at=NOW - timedelta(days=800))
        add_records(rt, "tickets", busy, created=NOW - timedelta(days=700))
        add_records(rt, "invoices", busy, created=NOW - timedelta(days=10), fields=["amount"])
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged) == (1, 1)
        assert records(rt) == 1


class TestAnonymise:
    def test_removes_the_fields_and_their_index_rows_once(self, rt):
        use_policies(rt, policy(action="anonymise", extra='fields = ["email"]'))
        s = add_subject(rt, at=NOW)
        add_records(
            rt, "tickets", s, n=2, created=NOW - timedelta(days=40), fields=["email", "body"]
        )
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert got.purged == 2
        assert records(rt) == 2
        assert count(rt, "SELECT COUNT(*) FROM blind_index WHERE field = 'email'") == 0
        assert count(rt, "SELECT COUNT(*) FROM blind_index WHERE field = 'body'") == 2
        again = outcome(service.purge(rt, CTX, now=NOW))
        assert again.purged == 0, "nothing is anonymised twice"


class TestEraseSubject:
    def test_erases_the_subject_and_its_wrapped_key(self, rt):
        use_policies(rt, policy(action="erase_subject", trigger="subject_inactive", period="P1Y"))
        idle = add_subject(rt, at=NOW - timedelta(days=800))
        add_records(rt, "tickets", idle, n=2, created=NOW - timedelta(days=700))
        add_records(rt, "invoices", idle, created=NOW - timedelta(days=700), fields=["amount"])
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged, got.held) == (1, 1, 0)
        assert count(rt, "SELECT COUNT(*) FROM subjects") == 0
        assert count(rt, "SELECT COUNT(*) FROM records") == 0
        entries = audit_rows(rt, action="subject.erase")
        assert [e["subject_id"] for e in entries] == [str(idle)]

    def test_a_hold_keeps_the_subject_its_key_and_the_held_records(self, rt):
        use_policies(
            rt,
            policy(action="erase_subject", trigger="subject_inactive", period="P1Y")
            + '[[hold]]\nid = "tax"\ncollections = ["invoices"]\nperiod = "P10Y"\n'
            + 'ground = "legal obligation: tax law"\n',
        )
        s = add_subject(rt, at=NOW - timedelta(days=800))
        add_records(rt, "tickets", s, created=NOW - timedelta(days=700))
        add_records(rt, "invoices", s, created=NOW - timedelta(days=700), fields=["amount"])
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged, got.held) == (1, 0, 1)
        assert [(h.hold, h.ground, h.count) for h in got.held_by] == [
            ("tax", "legal obligation: tax law", 1)
        ]
        assert count(rt, "SELECT COUNT(*) FROM subjects") == 1
        assert records(rt, "tickets") == 0
        assert records(rt, "invoices") == 1


class TestHolds:
    HOLD = '[[hold]]\nid = "dispute"\ncategories = ["contact"]\nperiod = "P90D"\nground = "claim"\n'

    def test_held_records_are_kept_and_counted_with_the_hold(self, rt):
        use_policies(rt, policy() + self.HOLD)
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, n=2, created=NOW - timedelta(days=60))  # held
        add_records(rt, "tickets", s, n=3, created=NOW - timedelta(days=100))  # hold over
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged, got.held) == (5, 3, 2)
        assert [(h.hold, h.count) for h in got.held_by] == [("dispute", 2)]
        assert records(rt) == 2

    def test_a_hold_without_period_keeps_everything(self, rt):
        use_policies(
            rt, policy() + '[[hold]]\nid = "lit"\ncollections = ["tickets"]\nground = "x"\n'
        )
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, n=2, created=NOW - timedelta(days=9000))
        got = outcome(service.purge(rt, CTX, now=NOW))
        assert (got.matched, got.purged, got.held) == (2, 0, 2)
        assert records(rt) == 2


class TestDryRun:
    def test_changes_nothing_and_reports_what_would_go(self, rt):
        use_policies(rt, policy() + TestHolds.HOLD)
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, n=2, created=NOW - timedelta(days=60))
        add_records(rt, "tickets", s, n=3, created=NOW - timedelta(days=100))
        audit_before = count(rt, "SELECT COUNT(*) FROM audit_log")
        report = service.purge(rt, CTX, now=NOW, dry_run=True)
        assert report.dry_run
        got = outcome(report)
        assert (got.matched, got.purged, got.held) == (5, 3, 2)
        assert records(rt) == 5
        assert count(rt, "SELECT COUNT(*) FROM blind_index") == 5
        assert count(rt, "SELECT COUNT(*) FROM audit_log") == audit_before
        assert count(rt, "SELECT COUNT(*) FROM retention_purges") == 0


class TestBatches:
    def test_one_audit_entry_per_batch_naming_policy_and_count(self, rt):
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, n=7, created=NOW - timedelta(days=40))
        service.purge(rt, CTX, now=NOW, batch=3)
        reasons = [e["reason"] for e in audit_rows(rt, action="retention.delete")]
        assert reasons == ["policy:p count:3", "policy:p count:3", "policy:p count:1"]
        assert count(rt, "SELECT SUM(count) FROM retention_purges WHERE policy_id = 'p'") == 7


class TestScopes:
    def test_by_category_and_by_purpose_link(self, rt):
        add_purpose(rt, "billing", ["invoices"], basis="contract", retention_policy="linked")
        use_policies(
            rt,
            policy("by-cat", scope='categories = ["contact"]')
            + policy("linked", period="P1Y", scope='collections = ["nothing"]'),
        )
        s = add_subject(rt, at=NOW)
        add_records(rt, "tickets", s, created=NOW - timedelta(days=400))
        add_records(rt, "invoices", s, created=NOW - timedelta(days=400), fields=["amount"])
        report = service.purge(rt, CTX, now=NOW)
        assert outcome(report, "by-cat").purged == 1
        assert outcome(report, "linked").purged == 1


class TestServiceData:
    def test_job_runs_are_purged_and_unregistered_sets_say_so(self, rt):
        from privacy.db import new_session
        from privacy.scheduling.models import JobRun

        with new_session(rt.engine) as s:
            s.add(JobRun(job="x", started_at=NOW - timedelta(days=100), outcome="ok"))
            s.add(JobRun(job="x", started_at=NOW - timedelta(days=10), outcome="ok"))
            s.commit()
        shipped = load_retention(None).policies
        rt.retention = RetentionConfig(
            policies=tuple(p for p in shipped if p.data in ("job_runs", "tombstones")), holds=()
        )
        report = service.purge(rt, CTX, now=NOW)
        runs = outcome(report, "job-runs")
        assert (runs.matched, runs.purged, runs.enforced) == (1, 1, True)
        assert outcome(report, "erasure-tombstones").enforced is False
        assert count(rt, "SELECT COUNT(*) FROM job_runs") == 1


def test_erase_subject_counts_a_held_subject_once(rt):
    use_policies(
        rt,
        policy(action="erase_subject", period="P1Y", scope='collections = ["invoices"]')
        + '[[hold]]\nid = "tax"\ncollections = ["invoices"]\nperiod = "P10Y"\nground = "tax"\n',
    )
    s = add_subject(rt, at=NOW - timedelta(days=800))
    add_records(rt, "invoices", s, n=3, created=NOW - timedelta(days=700), fields=["amount"])
    got = outcome(service.purge(rt, CTX, now=NOW, dry_run=True))
    assert (got.matched, got.purged, got.held) == (1, 0, 1)
    assert [(h.hold, h.count) for h in got.held_by] == [("tax", 1)]
