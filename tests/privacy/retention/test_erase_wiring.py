"""An erase_subject retention policy runs the real erasure: tombstone in Vault KV, a receipt
that verifies with the receipt key, and the retention counts still right under a hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from privacy.consent import receipts
from privacy.context import Principal, RequestContext
from privacy.erasure import tombstones
from privacy.retention import service
from support.api import audit_rows
from support.retention import add_collection, add_records, add_subject, count, use_policies

CTX = RequestContext(Principal(kind="system", id="test"))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = (
    '[[policy]]\nid = "idle"\ncollections = ["tickets", "invoices"]\nperiod = "P1Y"\n'
    'trigger = "subject_inactive"\naction = "erase_subject"\n'
)
HOLD = '[[hold]]\nid = "tax"\ncollections = ["invoices"]\nperiod = "P10Y"\nground = "tax law"\n'


def outcome(report):
    return next(p for p in report.policies if p.id == "idle")


def _setup(runtime, extra=""):
    add_collection(runtime, "tickets", {"email": "contact"})
    add_collection(runtime, "invoices", {"amount": "financial"})
    use_policies(runtime, POLICY + extra)


def test_policy_erasure_leaves_a_tombstone_and_a_verifiable_receipt(runtime):
    _setup(runtime)
    idle = add_subject(runtime, at=NOW - timedelta(days=800))
    active = add_subject(runtime, at=NOW - timedelta(days=10))
    add_records(runtime, "tickets", idle, n=2, created=NOW - timedelta(days=700))
    add_records(runtime, "tickets", active, created=NOW - timedelta(days=5))
    got = outcome(service.purge(runtime, CTX, now=NOW))
    assert (got.matched, got.purged, got.held) == (1, 1, 0)
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 1
    assert count(runtime, "SELECT COUNT(*) FROM records") == 1
    stone = tombstones.read(tombstones.store(runtime), idle)
    assert stone is not None and stone["status"] == "completed"
    assert tombstones.read(tombstones.store(runtime), active) is None
    result = stone["result"]
    assert result["receipt"]["subject_id"] == str(idle)
    assert result["receipt"]["erased"] == {"tickets": 2}
    assert result["key_destroyed"] is not None
    assert receipts.verify(runtime, result["receipt"], result["signature"], result["key_name"])
    forged = {**result["receipt"], "erased": {"tickets": 1}}
    assert not receipts.verify(runtime, forged, result["signature"], result["key_name"])
    reasons = [e["reason"] for e in audit_rows(runtime, action="retention.erase")]
    assert reasons == ["retention policy:idle"]
    # A second run finds nobody: the subject is gone.
    again = outcome(service.purge(runtime, CTX, now=NOW))
    assert (again.matched, again.purged) == (0, 0)


def test_a_held_subject_is_counted_held_and_kept_restricted(runtime):
    _setup(runtime, HOLD)
    s = add_subject(runtime, at=NOW - timedelta(days=800))
    add_records(runtime, "tickets", s, created=NOW - timedelta(days=700))
    add_records(runtime, "invoices", s, created=NOW - timedelta(days=700), fields=["amount"])
    got = outcome(service.purge(runtime, CTX, now=NOW))
    assert (got.matched, got.purged, got.held) == (1, 0, 1)
    assert [(h.hold, h.count) for h in got.held_by] == [("tax", 1)]
    assert count(runtime, "SELECT COUNT(*) FROM subjects") == 1
    assert count(runtime, "SELECT COUNT(*) FROM records WHERE collection = 'tickets'") == 0
    assert count(runtime, "SELECT COUNT(*) FROM records WHERE collection = 'invoices'") == 1
    stone = tombstones.read(tombstones.store(runtime), s)
    assert stone is not None and stone["status"] == "held"
    assert [k["hold"] for k in stone["result"]["kept"]] == ["tax"]
    # Rerunning purges nothing more: the held records stay until the hold ends.
    assert outcome(service.purge(runtime, CTX, now=NOW)).purged == 0
    assert count(runtime, "SELECT COUNT(*) FROM records WHERE collection = 'invoices'") == 1
