"""Tamper evidence: every kind of change made directly in the database is detected and the
first bad entry is named (SQLite and PostgreSQL, through the `engine` parameter)."""

from __future__ import annotations

import base64
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from privacy.audit import canonical as c
from privacy.audit.chain import ChainBroken
from privacy.db import utcnow


class TestCleanLog:
    def test_a_clean_log_verifies(self, write, worker, verify):
        write(5)
        worker.seal()
        write(3)
        result = verify()
        assert result.ok and result.first_bad is None
        assert result.checked == 8 and result.seals_checked == 1
        assert result.head_seq == 8 and result.sealed_seq == 5 and result.pending == 0

    def test_an_empty_log_verifies(self, verify):
        assert verify().ok

    def test_positions_follow_commit_order_and_hashes_link(self, write, worker, db):
        write(4)
        worker.chain()
        got = db.rows("SELECT id, seq, hash, mac FROM audit_log ORDER BY seq")
        assert [r[1] for r in got] == [1, 2, 3, 4]
        assert all(len(r[2]) == 64 and len(r[3]) == 64 for r in got)
        assert len({r[2] for r in got}) == 4

    def test_the_seal_signature_verifies_offline_with_the_public_key(self, write, worker, runtime):
        write(2)
        cp = worker.seal()
        from privacy.audit.seals import payload_of

        public = runtime.transit.public_keys(runtime.settings.audit_signing_key)
        version, sig = cp.signature.split(":")[1:]
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public[int(version[1:])]))
        key.verify(base64.b64decode(sig), payload_of(cp))  # raises if wrong

    def test_sealing_an_unchanged_head_is_skipped_unless_forced(self, write, worker):
        write(1)
        assert worker.seal(force=False) is not None
        assert worker.seal(force=False) is None
        assert worker.seal(force=True).number == 2


class TestCanonicalForm:
    def test_fast_canonical_bytes_equal_json_dumps(self, write, worker, db, runtime):
        write(1)
        worker.chain()
        from privacy.audit.walk import ROW_COLUMNS, RowCodec

        row = db.rows(f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_log")[0]
        values = dict(zip(ROW_COLUMNS, row, strict=True))
        values["at"] = c.text_time(row[7]) if isinstance(row[7], str) else c.format_time(row[7])
        if isinstance(values["fields"], str):
            values["fields"] = json.loads(values["fields"])
        content = {k: values[k] for k in c.CONTENT_KEYS}
        fast = RowCodec().content(row)
        assert fast == c.dumps(content)
        entry = {"entry": content, "id": row[0], "mac": row[3], "seq": row[1]}
        assert c.entry_bytes(fast, id=row[0], mac=row[3], seq=row[1]) == c.dumps(entry)
        assert row[3] == c.mac_hex(runtime.audit_key, fast)
        assert row[3] == hmac.new(runtime.audit_key, fast, "sha256").hexdigest()

    def test_unusual_characters_encode_like_json(self):
        odd = 'ü"\\\n\u2028😀'
        frags = c.fragments(
            action="a",
            actor=odd,
            actor_type="user",
            at="2026-01-01T00:00:00.000000Z",
            client_ip=None,
            collection=odd,
            fields=c.fields_fragment([odd, "b"]),
            outcome="ok",
            purpose=None,
            reason=odd,
            record_id=None,
            request_id=None,
            subject_id=None,
        )
        obj = dict.fromkeys(c.CONTENT_KEYS)
        obj.update(
            action="a",
            actor=odd,
            actor_type="user",
            at="2026-01-01T00:00:00.000000Z",
            collection=odd,
            fields=[odd, "b"],
            outcome="ok",
            reason=odd,
        )
        assert c.content_bytes(frags) == c.dumps(obj)


class TestTampering:
    def _sealed(self, write, worker, n=6):
        ids = write(n)
        worker.seal()
        return ids

    def test_an_updated_field_is_named(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec("UPDATE audit_log SET purpose = 'marketing' WHERE id = :id", id=ids[2])
        bad = verify().first_bad
        assert (bad.code, bad.id, bad.seq) == ("altered", ids[2], 3)

    def test_entries_before_the_bad_one_count_as_checked(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec("UPDATE audit_log SET actor = 'app:someone_else' WHERE id = :id", id=ids[1])
        result = verify()
        assert (result.first_bad.code, result.first_bad.id) == ("altered", ids[1])
        assert result.checked == 1

    def test_a_deleted_entry_is_named_by_its_position(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec("DELETE FROM audit_log WHERE id = :id", id=ids[3])
        bad = verify().first_bad
        assert (bad.code, bad.seq, bad.id) == ("missing", 4, None)

    def test_a_forged_row_inserted_directly_is_named(self, write, worker, verify, db):
        self._sealed(write, worker)
        db.exec(
            "INSERT INTO audit_log (at, actor, actor_type, action, outcome, subject_id) "
            "VALUES (:at, 'app:innocent', 'app', 'record.read', 'ok', 'someone')",
            at=utcnow(),
        )
        forged = db.scalar("SELECT MAX(id) FROM audit_log")
        bad = verify().first_bad
        assert (bad.code, bad.id) == ("unauthenticated", forged)

    def test_a_forged_row_with_a_copied_mac_is_named(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec(
            "INSERT INTO audit_log (at, actor, actor_type, action, outcome, subject_id, mac) "
            "SELECT at, actor, actor_type, action, outcome, 'another-subject', mac "
            "FROM audit_log WHERE id = :id",
            id=ids[0],
        )
        forged = db.scalar("SELECT MAX(id) FROM audit_log")
        bad = verify().first_bad
        assert (bad.code, bad.id) == ("altered", forged)

    def test_swapped_positions_are_named(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec("UPDATE audit_log SET seq = -1 WHERE id = :id", id=ids[1])
        db.exec("UPDATE audit_log SET seq = 2 WHERE id = :id", id=ids[4])
        db.exec("UPDATE audit_log SET seq = 5 WHERE id = :id", id=ids[1])
        bad = verify().first_bad
        assert (bad.code, bad.seq, bad.id) == ("hash_mismatch", 2, ids[4])

    def test_swapped_ids_are_named(self, write, worker, verify, db):
        ids = self._sealed(write, worker)
        db.exec("UPDATE audit_log SET id = -1 WHERE id = :id", id=ids[1])
        db.exec("UPDATE audit_log SET id = :a WHERE id = :b", a=ids[1], b=ids[2])
        db.exec("UPDATE audit_log SET id = :b WHERE id = -1", b=ids[2])
        bad = verify().first_bad
        assert (bad.code, bad.seq) == ("hash_mismatch", 2)

    def test_deleting_the_newest_sealed_entries_is_named(self, write, worker, verify, db):
        self._sealed(write, worker, n=6)
        db.exec("DELETE FROM audit_log WHERE seq > 3")
        bad = verify().first_bad
        assert (bad.code, bad.seq, bad.seal) == ("truncated", 4, 1)

    def test_truncation_stops_the_chainer_and_new_entries_do_not_hide_it(
        self, write, worker, verify, db
    ):
        self._sealed(write, worker, n=6)
        db.exec("DELETE FROM audit_log WHERE seq > 3")
        write(5)  # would refill positions 4..8 if the chainer went on
        with pytest.raises(ChainBroken):
            worker.chain()
        # nothing linked; the chainer raised a security event instead (itself unlinked)
        assert db.scalar("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL") == 6
        assert db.scalar("SELECT action FROM audit_log ORDER BY id DESC") == "security.audit_tamper"
        assert verify().first_bad.code == "truncated"

    def test_a_rewritten_chain_does_not_match_its_seal(self, write, worker, runtime, db):
        """Without the MAC key (offline), a consistent rewrite is caught by the seal."""
        ids = self._sealed(write, worker)
        db.exec("UPDATE audit_log SET purpose = 'marketing' WHERE id = :id", id=ids[2])
        _rehash_all(db)
        from privacy.audit.verify import load_public_keys, verify

        keys = load_public_keys(runtime.transit.public_keys(runtime.settings.audit_signing_key))
        bad = verify(runtime.engine.connect, public_keys=keys, mac_key=None).first_bad
        assert (bad.code, bad.kind, bad.seal, bad.seq) == ("seal_mismatch", "seal", 1, 6)

    def test_an_altered_seal_is_named(self, write, worker, verify, db):
        self._sealed(write, worker)
        db.exec("UPDATE audit_checkpoints SET seq = 5 WHERE number = 1")
        bad = verify().first_bad
        assert (bad.kind, bad.code, bad.seal) == ("seal", "bad_signature", 1)

    def test_a_deleted_seal_is_named(self, write, worker, verify, db):
        for _ in range(3):
            self._sealed(write, worker, n=2)
        db.exec("DELETE FROM audit_checkpoints WHERE number = 2")
        bad = verify().first_bad
        assert (bad.kind, bad.code, bad.seal) == ("seal", "checkpoint_chain", 3)

    def test_an_unlinked_entry_is_checked_once_linked(self, write, worker, verify, db):
        ids = write(3)
        db.exec("UPDATE audit_log SET fields = :f WHERE id = :id", f='["salary"]', id=ids[1])
        bad = verify().first_bad
        assert (bad.code, bad.id) == ("altered", ids[1])


class TestLegacyEntries:
    def test_entries_from_before_macs_are_accepted_only_at_the_start(
        self, write, worker, verify, db
    ):
        ids = write(3)
        db.exec("UPDATE audit_log SET mac = NULL WHERE id <= :id", id=ids[1])
        assert verify().ok
        write(1)
        db.exec(
            "INSERT INTO audit_log (at, actor, actor_type, action, outcome) "
            "SELECT at, actor, actor_type, action, outcome FROM audit_log WHERE id = :id",
            id=ids[0],
        )
        bad = verify().first_bad
        assert bad.code == "unauthenticated"


def _rehash_all(db) -> None:
    """What an attacker who knows the format (but not the keys) can do: recompute hashes."""
    from privacy.audit.walk import ROW_COLUMNS, RowCodec

    codec, prev = RowCodec(), c.GENESIS
    for row in db.rows(f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_log ORDER BY seq"):
        content = codec.content(row)
        prev = c.link(prev, c.entry_bytes(content, id=row[0], mac=row[3], seq=row[1]))
        db.exec("UPDATE audit_log SET hash = :h WHERE id = :id", h=prev.hex(), id=row[0])


class TestUnreadableRows:
    def test_a_row_edited_into_garbage_is_named_not_a_crash(self, write, worker, verify, db):
        ids = write(3)
        worker.seal()
        db.exec("UPDATE audit_log SET fields = '[1, 2]' WHERE id = :id", id=ids[1])
        bad = verify().first_bad
        assert (bad.code, bad.id) == ("altered", ids[1])


class TestParallelVerification:
    """Ranges checked by worker processes reach the same verdict as one pass."""

    def _verify(self, runtime, workers):
        from privacy.audit.verify import load_public_keys, verify

        keys = load_public_keys(runtime.transit.public_keys(runtime.settings.audit_signing_key))
        url = runtime.engine.url.render_as_string(hide_password=False)
        return verify(
            runtime.engine.connect,
            public_keys=keys,
            mac_key=runtime.audit_key,
            workers=workers,
            url=url,
            parallel_min=1,
        )

    def test_a_clean_log_verifies_in_parallel(self, write, worker, runtime):
        write(40)
        worker.seal()
        result = self._verify(runtime, 2)
        assert result.ok and result.checked == 40 and result.head_seq == 40

    @pytest.mark.parametrize(
        "tamper",
        [
            "UPDATE audit_log SET purpose = 'x' WHERE seq = 23",
            "DELETE FROM audit_log WHERE seq = 23",
            "DELETE FROM audit_log WHERE seq IN (18, 19, 20)",  # the tail of a range (15, 20]
            "UPDATE audit_log SET hash = 'ab' WHERE seq = 23",
        ],
    )
    def test_tampering_gets_the_same_verdict_in_parallel(self, write, worker, runtime, db, tamper):
        write(40)
        worker.seal()
        db.exec(tamper)
        one, many = self._verify(runtime, 1), self._verify(runtime, 2)
        assert many.first_bad == one.first_bad and one.first_bad is not None
        assert many.checked == one.checked
