"""privacy.prepared on real SQLite and PostgreSQL: values go in and come out exactly as
through SQLAlchemy's own execution, and failures leave as SQLAlchemy's errors, without
the (possibly personal) parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from privacy.audit.models import AuditEntry
from privacy.db import new_session
from privacy.prepared import Prepared, run_sql
from privacy.subjects.models import Subject

_subjects = Subject.__table__  # type: ignore[attr-defined]
_audit = AuditEntry.__table__  # type: ignore[attr-defined]

COLUMNS = (
    "id",
    "external_id_index",
    "external_id_sealed",
    "wrapped_dek",
    "created_by",
    "created_at",
    "updated_at",
)
INSERT = Prepared(insert(_subjects), columns=COLUMNS)
BY_ID = Prepared(
    select(*(_subjects.c[c] for c in COLUMNS)).where(_subjects.c.id == bindparam("id"))
)


def _subject(**over):  # type: ignore[no-untyped-def]
    row = {
        "id": uuid.uuid4(),
        "external_id_index": uuid.uuid4().hex,
        "external_id_sealed": b"\x00\x01sealed",
        "wrapped_dek": "vault:v1:abc",
        "created_by": "app:test",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    row.update(over)
    return row


def test_values_round_trip_as_sqlalchemy_stores_them(engine):
    row = _subject()
    with new_session(engine) as session:
        INSERT.insert(session.connection(), [row])
        session.commit()
    with new_session(engine) as session:
        mine = BY_ID.first(session.connection(), {"id": row["id"]})
        theirs = session.connection().execute(BY_ID.statement, {"id": row["id"]}).one()
    assert tuple(mine) == tuple(theirs)
    assert mine._asdict() == row
    assert isinstance(mine.id, uuid.UUID) and mine.created_at.tzinfo is not None


def test_rows_written_by_sqlalchemy_read_the_same(engine):
    row = _subject()
    with new_session(engine) as session:
        session.connection().execute(insert(_subjects), [row])
        session.commit()
    with new_session(engine) as session:
        assert BY_ID.first(session.connection(), {"id": row["id"]})._asdict() == row
        assert BY_ID.first(session.connection(), {"id": uuid.uuid4()}) is None


def test_several_rows_and_json_and_fixed_parameters(engine):
    insert_audit = Prepared(
        insert(_audit), columns=("at", "actor", "actor_type", "action", "outcome", "fields")
    )
    count = Prepared(
        select(_audit.c.fields, _audit.c.actor).where(
            _audit.c.actor == bindparam("actor"), _audit.c.outcome == "ok"
        )
    )
    at = datetime.now(UTC)
    rows = [
        {
            "at": at,
            "actor": "a",
            "actor_type": "app",
            "action": "x",
            "outcome": "ok",
            "fields": ["n", "é"],
        },
        {
            "at": at,
            "actor": "b",
            "actor_type": "app",
            "action": "x",
            "outcome": "ok",
            "fields": None,
        },
    ]
    with new_session(engine) as session:
        insert_audit.insert(session.connection(), rows)
        assert count.first(session.connection(), {"actor": "a"}).fields == ["n", "é"]
        assert count.first(session.connection(), {"actor": "b"}).fields is None
        session.rollback()


def test_a_duplicate_key_is_sqlalchemys_integrity_error_without_the_values(engine):
    row = _subject(created_by="secret-person@example.org")
    with new_session(engine) as session:
        INSERT.insert(session.connection(), [row])
        with pytest.raises(IntegrityError) as caught:
            INSERT.insert(session.connection(), [row])
        session.rollback()
    assert "secret-person" not in str(caught.value)
    assert caught.value.orig is not None


def test_a_missing_table_is_a_dbapi_error_and_rolls_back_cleanly(engine):
    gone = Prepared(select(_subjects.c.id).where(_subjects.c.id == bindparam("id")))
    with new_session(engine) as session:
        run_sql(session.connection(), "ALTER TABLE subjects RENAME TO subjects_away")
        with pytest.raises(DBAPIError):
            gone.first(session.connection(), {"id": uuid.uuid4()})
        session.rollback()
    with new_session(engine) as session:  # the rename was rolled back with it
        assert gone.first(session.connection(), {"id": uuid.uuid4()}) is None


def test_what_it_cannot_run_is_refused_when_first_used(engine):
    expanding = Prepared(
        select(_subjects.c.id).where(_subjects.c.id.in_(bindparam("ids", expanding=True)))
    )
    unnamed = Prepared(insert(_subjects))
    with new_session(engine) as session:
        with pytest.raises(TypeError):
            expanding.first(session.connection(), {"ids": [uuid.uuid4()]})
        with pytest.raises(TypeError):
            unnamed.insert(session.connection(), [_subject()])
