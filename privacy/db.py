"""Engine and session factory. One transaction per request or job; services never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kw)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, future=True, **kw)


def _sqlite_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # One connection, shared in turn: SQLite serialises writers anyway, and measured
    # throughput with one connection is several times that of many threads contending
    # for the file lock (see DESIGN.md).
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=30,
        connect_args={"check_same_thread": False, "timeout": 30},
        **kw,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Take the write lock up front so that a read-then-write transaction cannot fail
        # half-way with "database is locked" when another process writes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
