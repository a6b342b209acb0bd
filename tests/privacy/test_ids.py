"""Record ids are UUIDv7: time-ordered, so rows that expire together sit together."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from privacy.ids import uuid7
from support.api import SAMPLE_CUSTOMER, new_record, new_subject


def _ms(u: uuid.UUID) -> int:
    return u.int >> 80


def test_layout_is_rfc_9562_version_7():
    u = uuid7()
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert abs(_ms(u) - now_ms) < 60_000


def test_the_timestamp_is_the_given_time_and_orders_the_ids():
    early = datetime(2025, 3, 30, 0, 59, 59, 999_000, tzinfo=UTC)
    later = early + timedelta(milliseconds=1)
    a, b = uuid7(early), uuid7(later)
    assert _ms(a) == int(early.timestamp() * 1000)
    assert a < b and str(a) < str(b) and a.hex < b.hex  # every stored form sorts alike


def test_ids_of_the_same_millisecond_differ():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ids = {uuid7(at) for _ in range(1000)}
    assert len(ids) == 1000  # 74 random bits each


def test_records_written_through_the_api_get_time_ordered_ids(client, vault_app):
    sid = new_subject(client, vault_app)
    first = uuid.UUID(new_record(client, vault_app, sid))
    second = uuid.UUID(new_record(client, vault_app, sid))
    assert first.version == second.version == 7
    assert _ms(first) <= _ms(second)
    r = client.post(
        "/v1/collections/customers/records:batch",
        headers=vault_app,
        json={"records": [{"subject_id": sid, "data": SAMPLE_CUSTOMER}] * 3},
    )
    assert r.status_code == 201, r.text
    batch = [uuid.UUID(x["id"]) for x in r.json()["items"]]
    assert all(u.version == 7 and _ms(u) >= _ms(second) for u in batch)
