"""The tombstone store on a real OpenBao KV v2 mount."""

from __future__ import annotations

import uuid

import pytest

import kms
from kms import TransitClient
from kms.kv import KvStore
from privacy.db import utcnow
from privacy.erasure import tombstones


@pytest.fixture
def kv(dev_vault):  # type: ignore[no-untyped-def]
    store = KvStore(TransitClient(dev_vault.addr, token=dev_vault.token), f"t-{uuid.uuid4().hex}")
    store.ensure_mount()
    return store


class TestTombstones:
    def test_a_pending_mark_never_overwrites_an_existing_tombstone(self, kv):
        sid, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        tombstones.mark_pending(kv, sid, first, utcnow())
        tombstones.mark_done(kv, sid, "completed", {"receipt": {"request_id": str(first)}})
        tombstones.mark_pending(kv, sid, second, utcnow())  # e.g. a rerun: no error, no change
        stone = tombstones.read(kv, sid)
        assert stone is not None
        assert stone["status"] == "completed" and stone["request_id"] == str(first)

    def test_listing_returns_subject_ids_only(self, kv):
        ids = {uuid.uuid4() for _ in range(3)}
        for sid in ids:
            tombstones.mark_pending(kv, sid, None, utcnow())
        kv.write("subjects/not-a-uuid", {"x": 1})
        assert set(tombstones.subject_ids(kv)) == ids
        assert tombstones.read(kv, uuid.uuid4()) is None

    def test_an_empty_store_lists_nothing(self, kv):
        assert tombstones.subject_ids(kv) == []

    def test_a_mount_of_another_engine_is_refused(self, dev_vault):
        client = TransitClient(dev_vault.addr, token=dev_vault.token)
        with pytest.raises(kms.KmsError, match="not a KV version 2"):
            KvStore(client, "transit").ensure_mount()
