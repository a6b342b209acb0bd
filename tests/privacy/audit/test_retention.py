"""The log's own retention: whole sealed segments are purged, and what remains verifies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from privacy.audit import seals
from privacy.db import utcnow


def _purge(worker, older_than):
    return seals.purge(
        worker.rt.engine, worker.signer, older_than=older_than, mac_key=worker.rt.audit_key
    )


class TestPurge:
    def test_purging_an_old_sealed_segment_keeps_the_rest_verifiable(
        self, write, worker, verify, db
    ):
        write(5)
        first = worker.seal()
        write(4)
        second = worker.seal()
        write(3)
        result = _purge(worker, older_than=second.at)  # only the first segment is older
        assert (result.purged, result.through_seq) == (5, first.seq)
        assert db.scalar("SELECT MIN(seq) FROM audit_log") == 6
        kinds = db.rows("SELECT number, kind, seq FROM audit_checkpoints ORDER BY number")
        assert kinds == [(1, "seal", 5), (2, "seal", 9), (3, "purge", 5)]
        checked = verify()
        assert checked.ok, checked.first_bad
        assert checked.checked == 7

    def test_purging_again_changes_nothing(self, write, worker, verify):
        write(3)
        worker.seal()
        later = utcnow() + timedelta(seconds=1)
        assert _purge(worker, older_than=later).purged == 3
        assert _purge(worker, older_than=later).purged == 0
        write(2)
        worker.seal()
        result = verify()
        assert result.ok and result.checked == 2

    def test_unsealed_and_recent_entries_are_kept(self, write, worker, db):
        write(3)
        worker.seal()
        write(2)
        assert _purge(worker, older_than=utcnow() - timedelta(days=1)).purged == 0
        _purge(worker, older_than=utcnow() + timedelta(seconds=1))
        assert db.scalar("SELECT COUNT(*) FROM audit_log") == 2

    def test_a_tampered_segment_is_not_purged(self, write, worker, db):
        ids = write(4)
        worker.seal()
        db.exec("UPDATE audit_log SET outcome = 'denied' WHERE id = :id", id=ids[1])
        result = _purge(worker, older_than=utcnow() + timedelta(seconds=1))
        assert result.purged == 0 and result.refused.first_bad.id == ids[1]
        assert db.scalar("SELECT COUNT(*) FROM audit_log") == 4

    def test_deleting_the_first_entry_after_a_purge_is_detected(self, write, worker, verify, db):
        write(3)
        worker.seal()
        _purge(worker, older_than=utcnow() + timedelta(seconds=1))
        write(3)
        worker.seal()
        db.exec("DELETE FROM audit_log WHERE seq = 4")
        bad = verify().first_bad
        assert (bad.code, bad.seq) == ("missing", 4)

    def test_a_forged_purge_anchor_is_detected(self, write, worker, verify, db):
        write(3)
        worker.seal()
        _purge(worker, older_than=utcnow() + timedelta(seconds=1))
        db.exec("UPDATE audit_checkpoints SET seq = 1 WHERE kind = 'purge'")
        bad = verify().first_bad
        assert (bad.kind, bad.code) == ("seal", "bad_signature")

    def test_the_worker_purges_under_the_retention_setting(self, write, worker, runtime, db):
        write(2)
        worker.seal()
        assert worker.purge() is None  # no retention configured: keep forever
        runtime.settings = runtime.settings.model_copy(update={"audit_retention_days": 1})
        assert worker.purge().purged == 0  # the seal is not a day old
        assert db.scalar("SELECT COUNT(*) FROM audit_log") == 2


def test_an_export_after_a_purge_verifies_offline(write, worker, runtime, tmp_path):
    import importlib.util
    import json

    from privacy.audit import queries

    write(4)
    worker.seal()
    _purge(worker, older_than=utcnow() + timedelta(seconds=1))
    write(3)
    worker.seal()
    log, key = tmp_path / "audit.jsonl", tmp_path / "key.json"
    log.write_bytes(b"".join(queries.export_jsonl(runtime.engine, queries.AuditFilter())))
    keys = runtime.transit.public_keys(runtime.settings.audit_signing_key)
    key.write_text(json.dumps({"keys": {str(v): k for v, k in keys.items()}}))
    path = Path(seals.__file__).with_name("offline_verify.py")
    spec = importlib.util.spec_from_file_location("offline_verify", path)
    offline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(offline)
    assert offline.main(str(log), str(key)) is None  # None: no problem found
    assert "truncated" in offline.main(str(log), str(key), 99)  # a seal we kept says 99
