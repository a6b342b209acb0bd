"""Run a job once across replicas: a PostgreSQL advisory lock, or a file lock on SQLite.

Both are try-locks: a process that does not get the lock skips the run instead of
queueing behind it. Both are released by the operating system or the database when the
holder dies (kill -9 included), so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

log = logging.getLogger("privacy.scheduling")


def lock_key(job: str) -> int:
    """A stable signed 64-bit key per job name (pg_try_advisory_lock takes a bigint)."""
    digest = hashlib.sha256(f"privacy-vault-job:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def job_lock(engine: Engine, lock_dir: Path, job: str) -> Iterator[bool]:
    """Yields True when this process holds the job's lock for the block, False otherwise."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, job) as got:
            yield got
    else:
        with _file_lock(lock_dir, job) as got:
            yield got


@contextlib.contextmanager
def _pg_lock(engine: Engine, job: str) -> Iterator[bool]:
    key = lock_key(job)
    conn = engine.connect()
    try:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
    except Exception:
        conn.invalidate()
        conn.close()
        raise
    try:
        yield got
    finally:
        if got:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception as exc:  # the lock dies with the connection
                log.debug("advisory unlock failed: %s", type(exc).__name__)
                conn.invalidate()
        conn.close()


@contextlib.contextmanager
def _file_lock(lock_dir: Path, job: str) -> Iterator[bool]:
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"{job}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            # Per open file description: two opens in one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
