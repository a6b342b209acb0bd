"""After an erasure nothing of the subject is left to read: not through the API of another
worker whose DEK cache still held the key, not in the database files (SQLite main file and
WAL), not in any table, not in the logs."""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from privacy.app import create_app
from privacy.db import new_session
from privacy.models import metadata
from privacy.runtime import build_runtime
from privacy.subjects.models import BlindIndexEntry, Record, Subject
from support.api import dump_tables, new_record, new_subject
from support.erasure import distinctive, erase


def _secrets_of(rt, sid: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Everything stored for the subject that must not survive: its wrapped DEK, sealed
    identifiers, every sealed value and blind-index digest."""
    out: list[bytes] = []
    with new_session(rt.engine) as s:
        subject = s.get(Subject, uuid.UUID(sid))
        assert subject is not None
        out += [subject.wrapped_dek.encode(), subject.external_id_sealed[-24:]]
        out.append(subject.external_id_index.encode())
        for record in s.exec(select(Record).where(Record.subject_id == subject.id)):
            out += [v.encode() for v in record.sealed.values()]
            out += [base64.b64decode(v)[-24:] for v in record.sealed.values()]
        q = select(BlindIndexEntry.digest).where(BlindIndexEntry.subject_id == subject.id)
        out += [d.encode() for d in s.exec(q)]
    return out


def _plain(values: dict, external_id: str) -> list[bytes]:  # type: ignore[type-arg]
    texts = [external_id, values["name"], values["email"], values["prefs"]["motto"]]
    return [t.encode() for t in [*texts, values["phone"]]]


class TestNothingLeft:
    def test_not_in_database_files_tables_or_logs(self, client, vault_app, runtime, caplog):
        caplog.set_level(logging.DEBUG)
        values = distinctive()
        external_id = f"ext-{values['name'][-10:]}"
        sid = new_subject(client, vault_app, external_id=external_id, email=values["email"])
        for _ in range(3):
            new_record(client, vault_app, sid, values)
        secrets = _secrets_of(runtime, sid)
        assert len(secrets) > 10

        erase(runtime, sid)

        tables = [t.name for t in metadata.sorted_tables]
        dumped = dump_tables(runtime, *tables).encode()
        for needle in secrets + _plain(values, external_id):
            assert needle not in dumped
        if runtime.engine.dialect.name == "sqlite":
            raw = runtime.engine.raw_connection()
            try:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            db = Path(runtime.engine.url.database or "")
            files = [db, Path(f"{db}-wal")]
            content = b"".join(p.read_bytes() for p in files if p.exists())
            assert len(content) > 10_000
            for needle in secrets + _plain(values, external_id):
                assert needle not in content, "erased bytes are still in the SQLite files"
        logged = caplog.text.encode()
        for needle in _plain(values, external_id):
            assert needle not in logged

    def test_another_worker_with_the_key_cached_cannot_read(
        self, client, vault_app, runtime, settings
    ):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid)
        other = build_runtime(settings, engine=runtime.engine)  # a second worker's cache
        q = {"purpose": "support"}
        url = f"/v1/collections/customers/records/{rid}"
        with TestClient(create_app(runtime=other)) as worker2:
            assert worker2.get(url, headers=vault_app, params=q).status_code == 200
            cached = other.dek_cache.stats
            assert cached.size >= 1

            erase(runtime, sid)

            assert runtime.dek_cache.stats.size == 0  # the erasing worker dropped its copy
            assert worker2.get(url, headers=vault_app, params=q).status_code == 404
            listed = worker2.get(
                "/v1/collections/customers/records",
                headers=vault_app,
                params={**q, "subject_id": sid},
            )
            assert listed.json().get("items", []) == []
            # The stale entry was never used again: nothing can present its wrapped DEK.
            assert other.dek_cache.stats.hits == cached.hits
