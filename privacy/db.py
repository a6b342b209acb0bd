"""Engine and session factory. One transaction per request or job; services never commit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from privacy.prepared import run_sql
from privacy.txthreads import TransactionThreads

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kw)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, future=True, **kw)


SQLITE_CACHE_KIB = 64 * 1024  # page cache of the one connection
SQLITE_CHECKPOINT_PAGES = 10_000  # about 40 MiB of WAL between automatic checkpoints
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024


class SharedConnectionPool(QueuePool):
    """SQLite's one shared connection, which also knows how many threads wait for it.

    Bulk work (the retention purge) uses it to give way: between its batches it lets
    waiting API requests go first, and runs flat out when nobody waits.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Threads currently asking for the connection."""
        return self._waiting

    def _do_get(self) -> Any:  # the pool's extension point for checkouts
        with self._waiting_lock:
            self._waiting += 1
        try:
            return super()._do_get()
        finally:
            with self._waiting_lock:
                self._waiting -= 1


def waiting_for_connection(engine: Engine) -> int:
    """How many threads wait for the database connection (SQLite); 0 elsewhere."""
    pool = engine.pool
    return pool.waiting if isinstance(pool, SharedConnectionPool) else 0


# Threads for the hot routes' transactions (privacy.deps.Transaction) on PostgreSQL. Python
# holds the GIL for most of a transaction's work, so more threads add contention, not
# throughput; a few keep the pool busy while others wait on the network. Measured with 8
# clients (bench/README.md): 4 threads did 1.26x the writes of 10, and 1.14x those of 2.
POSTGRES_TRANSACTION_THREADS = 4


def transaction_threads(engine: Engine) -> TransactionThreads:
    """The threads that run request transactions: one on SQLite, a few elsewhere.

    SQLite's one connection serialises transactions, and with a thread per waiting request
    they queue on the pool: each hand-over wakes a thread, which then fights the event loop
    for the GIL. Measured, eight clients made a record write cost nearly twice the CPU of
    one client (bench/README.md). One thread takes the queued work in turn instead.
    """
    workers = 1 if engine.dialect.name == "sqlite" else POSTGRES_TRANSACTION_THREADS
    return TransactionThreads(workers)


@contextmanager
def checkpoints_aside(engine: Engine, every: float = 0.05) -> Iterator[None]:
    """While bulk work runs, copy the WAL back into the database from a connection of
    its own (SQLite; a no-op elsewhere).

    Otherwise the commit that crosses `wal_autocheckpoint` does the whole checkpoint,
    fsync included, on the shared connection, and every API request waits for it: the
    long tail of a purge's batches. A PASSIVE checkpoint never blocks the writer; the
    shared connection's own automatic checkpoint stays as the backstop.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    stop = threading.Event()

    def run() -> None:
        conn = sqlite3.connect(path, timeout=1, isolation_level=None, check_same_thread=False)
        try:
            while not stop.wait(every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # busy or locked: the next round tries again
                    continue
        finally:
            conn.close()

    worker = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def _sqlite_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # One connection, shared in turn: SQLite serialises writers anyway, and measured
    # throughput with one connection is several times that of many threads contending
    # for the file lock (see DESIGN.md).
    engine = create_engine(
        url,
        poolclass=SharedConnectionPool,
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
        # Bulk deletes (a retention purge, an erasure) dirty pages across several indexes.
        # With the defaults (2 MiB of cache, a checkpoint every 1,000 WAL pages) a batch
        # re-read pages it had just evicted and forced a checkpoint, with its fsync, at
        # every commit; these measured 2-3x faster purges (bench/README.md, `purge`).
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        # ...and the WAL file is cut back to this size after each checkpoint.
        cur.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_LIMIT_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Take the write lock up front so that a read-then-write transaction cannot fail
        # half-way with "database is locked" when another process writes. (On the driver:
        # this runs for every transaction, and Connection.exec_driver_sql costs ~4x more.)
        run_sql(conn, "BEGIN IMMEDIATE")

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
