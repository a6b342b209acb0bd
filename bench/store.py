"""The baselines' storage: one `records` table with a JSON column, via sqlite3 or psycopg.

Connection handling mirrors the real service so that the comparison is about the work per
request, not about pooling: SQLite through one connection taken in turn (WAL,
synchronous=NORMAL), PostgreSQL through a pool of up to 10 connections.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

SUBJECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS subjects (id TEXT PRIMARY KEY, external_id TEXT UNIQUE NOT NULL,"
    " email TEXT, created_at TEXT NOT NULL)"
)
RECORDS_DDL = (
    "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, subject_id TEXT NOT NULL"
    " REFERENCES subjects(id), collection TEXT NOT NULL, data {json} NOT NULL,"
    " created_at TEXT NOT NULL)"
)


class Store(Protocol):
    def add_subject(self, id: str, external_id: str, email: str | None, created_at: str) -> bool:
        """False if the external_id exists."""

    def add_record(
        self, id: str, subject_id: str, collection: str, data: dict[str, Any], created_at: str
    ) -> bool:
        """False if the subject does not exist."""

    def get_record(self, id: str, collection: str) -> tuple[str, dict[str, Any], str] | None:
        """(subject_id, data, created_at), or None."""

    def close(self) -> None: ...


class SqliteStore:
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(SUBJECTS_DDL)
        self._conn.execute(RECORDS_DDL.format(json="TEXT"))

    def add_subject(self, id: str, external_id: str, email: str | None, created_at: str) -> bool:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO subjects VALUES (?, ?, ?, ?)", (id, external_id, email, created_at)
                )
                self._conn.execute("COMMIT")
                return True
            except sqlite3.IntegrityError:
                self._conn.execute("ROLLBACK")
                return False

    def add_record(
        self, id: str, subject_id: str, collection: str, data: dict[str, Any], created_at: str
    ) -> bool:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                    (id, subject_id, collection, json.dumps(data), created_at),
                )
                self._conn.execute("COMMIT")
                return True
            except sqlite3.IntegrityError:
                self._conn.execute("ROLLBACK")
                return False

    def get_record(self, id: str, collection: str) -> tuple[str, dict[str, Any], str] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT subject_id, data, created_at FROM records WHERE id = ? AND collection = ?",
                (id, collection),
            ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]), row[2])

    def close(self) -> None:
        self._conn.close()


class PostgresStore:
    def __init__(self, url: str, size: int = 10) -> None:
        import psycopg

        self._psycopg = psycopg
        self._url = url
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        with self._conn() as conn, conn.transaction():
            conn.execute(SUBJECTS_DDL)
            conn.execute(RECORDS_DDL.format(json="JSONB"))

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._psycopg.connect(self._url)
            try:
                yield conn
            except BaseException:
                conn.close()
                raise
            self._idle.put(conn)

    def add_subject(self, id: str, external_id: str, email: str | None, created_at: str) -> bool:
        with self._conn() as conn:
            try:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO subjects VALUES (%s, %s, %s, %s)",
                        (id, external_id, email, created_at),
                    )
                return True
            except self._psycopg.errors.UniqueViolation:
                return False

    def add_record(
        self, id: str, subject_id: str, collection: str, data: dict[str, Any], created_at: str
    ) -> bool:
        from psycopg.types.json import Jsonb

        with self._conn() as conn:
            try:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO records VALUES (%s, %s, %s, %s, %s)",
                        (id, subject_id, collection, Jsonb(data), created_at),
                    )
                return True
            except self._psycopg.errors.ForeignKeyViolation:
                return False

    def get_record(self, id: str, collection: str) -> tuple[str, dict[str, Any], str] | None:
        with self._conn() as conn, conn.transaction():
            row = conn.execute(
                "SELECT subject_id, data, created_at FROM records"
                " WHERE id = %s AND collection = %s",
                (id, collection),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def open_store(url: str) -> Store:
    """`sqlite:///path` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    if url.startswith("postgresql://"):
        return PostgresStore(url)
    raise ValueError("BENCH_DATABASE must be sqlite:///PATH or postgresql://...")
