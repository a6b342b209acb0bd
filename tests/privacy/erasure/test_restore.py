"""After a database is restored from a backup taken before an erasure, the tombstones in
Vault (which the restore does not roll back) make the start-up replay erase the subject
again: SQLite by copying the file back, PostgreSQL with pg_dump / pg_restore."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from privacy.app import create_app
from privacy.db import make_engine, new_session
from privacy.erasure.replay import replay_tombstones
from privacy.erasure.service import count_records
from privacy.models import metadata
from privacy.runtime import Runtime, build_runtime
from support.api import FULL_APP_SCOPES, app_headers, setup_customers, user_headers
from support.erasure import distinctive, erase


def _populate(rt: Runtime) -> tuple[str, str, list[str], str]:
    """A subject to erase (with records) and a bystander subject that must survive."""
    with TestClient(create_app(runtime=rt)) as client:
        admin = user_headers(client, rt, "admin")
        setup_customers(client, admin)
        app = app_headers(client, admin, FULL_APP_SCOPES)
        sid, other = (
            client.post("/v1/subjects", headers=app, json={"external_id": ext}).json()["id"]
            for ext in (f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}")
        )
        rids = []
        for subject in (sid, sid, other):
            r = client.post(
                "/v1/collections/customers/records",
                headers=app,
                json={"subject_id": subject, "data": distinctive()},
            )
            rids.append(r.json()["id"])
        app_secret = app["Authorization"]
    return sid, other, rids, app_secret


def _subject_rows(engine: Engine, sid: str) -> int:
    with new_session(engine) as session:
        return count_records(session, uuid.UUID(sid))


def _check_erased_after_start(rt: Runtime, sid: str, other: str, rids: list[str]) -> None:
    """Start the API on the restored database: the lifespan replays the tombstones."""
    assert _subject_rows(rt.engine, sid) == 2  # the restore brought the subject back
    with TestClient(create_app(runtime=rt)) as client:
        admin = user_headers(client, rt, "admin")
        app = app_headers(client, admin, FULL_APP_SCOPES)
        q = {"purpose": "support"}
        assert client.get(f"/v1/subjects/{sid}", headers=app).status_code == 404
        for rid in rids[:2]:
            r = client.get(f"/v1/collections/customers/records/{rid}", headers=app, params=q)
            assert r.status_code == 404
        assert client.get(f"/v1/subjects/{other}", headers=app).status_code == 200
        r = client.get(f"/v1/collections/customers/records/{rids[2]}", headers=app, params=q)
        assert r.status_code == 200
    assert _subject_rows(rt.engine, sid) == 0
    assert replay_tombstones(rt) == 0  # nothing left to do


@pytest.fixture
def sqlite_file(settings, sqlite_template, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "restore.db"
    shutil.copy(sqlite_template, path)
    return path


def _checkpointed(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    engine.dispose()


class TestRestoreReplay:
    def test_sqlite_file_copy(self, settings, sqlite_file: Path, tmp_path: Path):
        engine = make_engine(f"sqlite:///{sqlite_file}")
        rt = build_runtime(settings, engine=engine)
        sid, other, rids, _ = _populate(rt)
        _checkpointed(engine)
        backup = tmp_path / "backup.db"
        shutil.copy(sqlite_file, backup)

        erase(rt, sid)
        assert _subject_rows(engine, sid) == 0
        engine.dispose()

        shutil.copy(backup, sqlite_file)
        for suffix in ("-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
        restored = make_engine(f"sqlite:///{sqlite_file}")
        try:
            _check_erased_after_start(build_runtime(settings, engine=restored), sid, other, rids)
        finally:
            restored.dispose()

    def test_postgres_dump_and_restore(self, settings, pg_database: str, tmp_path: Path):
        if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
            pytest.skip("pg_dump / pg_restore not installed")
        libpq = pg_database.replace("postgresql+psycopg://", "postgresql://")
        engine = make_engine(pg_database)
        try:
            rt = build_runtime(settings, engine=engine)
            sid, other, rids, _ = _populate(rt)
            dump = tmp_path / "backup.dump"
            subprocess.run(["pg_dump", "-Fc", "-f", str(dump), libpq], check=True)

            erase(rt, sid)
            assert _subject_rows(engine, sid) == 0
            engine.dispose()

            subprocess.run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "-d",
                    libpq,
                    str(dump),
                ],
                check=True,
            )
            _check_erased_after_start(build_runtime(settings, engine=engine), sid, other, rids)
        finally:
            # Leave the shared test database empty, as the `engine` fixture does.
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            engine.dispose()
