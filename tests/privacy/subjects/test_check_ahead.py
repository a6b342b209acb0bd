"""A record write validates its data before its transaction (records.check_ahead), against
the process's copy of the catalog, and the transaction uses that result only if the
catalog it reads is at the same version. A collection changed in between (by this or any
other process) is validated against as it is now."""

from __future__ import annotations

import uuid

import pytest

from privacy.catalog import cache
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.errors import InvalidData
from privacy.subjects import records
from privacy.subjects.schemas import RecordCreate
from support.api import new_subject

CTX = RequestContext(
    Principal(
        kind="app",
        id="check-ahead",
        roles=frozenset({"app"}),
        scopes=frozenset({"records:write:customers", "records:write:leads"}),
    )
)


def _write(runtime, item: RecordCreate, checked: records.Checked | None, collection="customers"):  # type: ignore[no-untyped-def]
    with new_session(runtime.engine) as session:
        created = records.create_records(
            session, runtime, CTX, collection=collection, items=[item], checked=checked
        )
        session.commit()
    return created


def _item(sid: str, **data) -> RecordCreate:  # type: ignore[no-untyped-def]
    return RecordCreate(subject_id=uuid.UUID(sid), data=data)


def test_values_checked_ahead_are_used_at_the_same_catalog_version(client, vault_app, runtime):
    sid = new_subject(client, vault_app)
    client.post(  # loads the catalog into this process's copy
        "/v1/collections/customers/records",
        headers=vault_app,
        json={"subject_id": sid, "data": {"name": "Warm"}},
    )
    item = _item(sid, name="Ada", email="Ada@Example.org")
    checked = records.check_ahead(runtime, "customers", [item])
    assert checked is not None
    assert checked.version == cache.cached(runtime.engine).version
    assert checked.values[0]["email"] == b'"Ada@example.org"'
    assert len(_write(runtime, item, checked)) == 1


def test_a_collection_changed_after_the_check_is_validated_as_it_is_now(
    client, admin, vault_app, runtime
):
    leads = [
        {"name": "name", "type": "string", "category": "identity"},
        {"name": "score", "type": "number", "category": "profile"},
    ]
    r = client.put("/v1/collections/leads", headers=admin, json={"fields": leads})
    assert r.status_code in (200, 201), r.text
    sid = new_subject(client, vault_app)
    client.post(  # loads the catalog, `leads` with it, into this process's copy
        "/v1/collections/customers/records",
        headers=vault_app,
        json={"subject_id": sid, "data": {"name": "Warm"}},
    )
    item = _item(sid, name="Ada", score=3)
    checked = records.check_ahead(runtime, "leads", [item])
    assert checked is not None
    # `leads` (no records yet) loses its `score` field after the check, before the write.
    r = client.put("/v1/collections/leads", headers=admin, json={"fields": leads[:1]})
    assert r.status_code in (200, 201), r.text
    with pytest.raises(InvalidData, match="score"):
        _write(runtime, item, checked, collection="leads")


def test_nothing_is_checked_ahead_when_in_doubt(client, vault_app, runtime):
    sid = new_subject(client, vault_app)
    client.post(
        "/v1/collections/customers/records",
        headers=vault_app,
        json={"subject_id": sid, "data": {"name": "Warm"}},
    )
    # Invalid data, and an unknown collection: the transaction decides (and audits).
    assert records.check_ahead(runtime, "customers", [_item(sid, email="nope")]) is None
    assert records.check_ahead(runtime, "no-such", [_item(sid, name="A")]) is None
