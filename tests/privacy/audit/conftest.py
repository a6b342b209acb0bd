"""Fixtures for the audit tests: the background worker is off unless a test turns it on,
so that every chain, seal and purge happens when the test says."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from privacy.audit import integrity
from privacy.audit import service as audit
from privacy.audit.verify import VerifyResult
from privacy.audit.worker import AuditWorker
from privacy.config import Settings
from privacy.context import Principal, RequestContext
from privacy.db import new_session
from privacy.runtime import Runtime

APP = RequestContext(
    Principal(kind="app", id="app_test", roles=frozenset({"app"})),
    request_id="req-1",
    client_ip="10.0.0.7",
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"audit_chain_interval": 0.0, "audit_seal_interval": 0.0})


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[AuditWorker]:
    w = AuditWorker(runtime)
    yield w
    w.stop()


Write = Callable[..., list[int]]


@pytest.fixture
def write(runtime: Runtime) -> Write:
    """Append `n` access entries through the service (as requests do); returns their ids."""

    def _write(n: int = 1, **kw: Any) -> list[int]:
        with new_session(runtime.engine) as session:
            entries = [
                audit.append(
                    session,
                    kw.get("ctx", APP),
                    action=kw.get("action", "record.read"),
                    subject_id=kw.get("subject_id", uuid.uuid4()),
                    collection="customers",
                    record_id=uuid.uuid4(),
                    fields=["email", "name"],
                    purpose="support",
                )
                for _ in range(n)
            ]
            session.commit()
        return [e.id for e in entries]  # type: ignore[misc]

    return _write


class Db:
    """Direct SQL on the test database: how an attacker with database access tampers."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def exec(self, statement: str, **params: Any) -> None:
        with self.rt.engine.begin() as conn:
            conn.execute(text(statement), params)

    def rows(self, statement: str, **params: Any) -> list[Any]:
        with self.rt.engine.connect() as conn:
            return list(conn.execute(text(statement), params).all())

    def scalar(self, statement: str, **params: Any) -> Any:
        return self.rows(statement, **params)[0][0]


@pytest.fixture
def db(runtime: Runtime) -> Db:
    return Db(runtime)


@pytest.fixture
def verify(worker: AuditWorker) -> Callable[[], VerifyResult]:
    """Link what is committed, then verify everything (as GET /v1/audit/verify does)."""
    return lambda: integrity.verify_log(worker)
