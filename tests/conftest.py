"""Shared fixtures: a real OpenBao dev server, real SQLite and PostgreSQL, the real app.

Nothing here mocks Vault or the database. What cannot run on this machine is skipped
with the reason, and `-ra` prints those reasons at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

# Shared test helpers live in tests/_lib/support. Only _lib goes on sys.path, never tests/
# itself: its folders are named like the real packages (privacy, kms), and with tests/ on
# the path pytest would import their conftest files as submodules of those packages.
sys.path.insert(0, str(Path(__file__).parent / "_lib"))

from privacy.config import Settings
from privacy.db import make_engine
from privacy.migrations.run import upgrade
from privacy.models import metadata
from privacy.runtime import Runtime, build_runtime
from support.openbao import DevServer, OpenBaoUnavailable, start_dev_server
from support.settings import make_settings

PG_ADMIN_URL = os.environ.get(
    "PRIVACY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("PRIVACY_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session")
def dev_vault() -> Iterator[DevServer]:
    try:
        server = start_dev_server()
    except OpenBaoUnavailable as exc:
        pytest.skip(f"OpenBao unavailable: {exc}")
    from kms import TransitClient

    TransitClient(server.addr, token=server.token).enable_transit()
    from kms.kv import KvStore  # erasure tombstones (privacy.erasure.tombstones)

    KvStore(TransitClient(server.addr, token=server.token), "privacy-tombstones").ensure_mount()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "privacy.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once."""
    if "postgres" not in BACKENDS:
        pytest.skip("PostgreSQL tests disabled by PRIVACY_TEST_BACKENDS")
    try:
        admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
        if os.environ.get("PRIVACY_TEST_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"privacy_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        db = tmp_path / "privacy.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db)
        eng = make_engine(f"sqlite:///{db}")
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("pg_database")
    eng = make_engine(url)
    yield eng
    with eng.begin() as conn:
        names = ", ".join(
            f'"{t.name}"' for t in metadata.sorted_tables if t.name != "alembic_version"
        )
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture
def settings(dev_vault: DevServer, tmp_path: Path) -> Settings:
    return make_settings(dev_vault, tmp_path)


@pytest.fixture
def runtime(settings: Settings, engine: Engine) -> Iterator[Runtime]:
    rt = build_runtime(settings, engine=engine)
    yield rt


@pytest.fixture
def client(runtime: Runtime) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from privacy.app import create_app

    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin(client, runtime: Runtime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from support.api import user_headers

    return user_headers(client, runtime, "admin")


@pytest.fixture
def vault_app(client, admin, runtime):  # type: ignore[no-untyped-def]
    """An app with every scope on the `customers` collection, which is set up."""
    from support.api import FULL_APP_SCOPES, app_headers, setup_customers

    setup_customers(client, admin)
    return app_headers(client, admin, FULL_APP_SCOPES)
