"""Erasure benchmark: `python -m bench erasure [--records N] [--rounds R] [--db sqlite|postgres]`.

Erases a subject holding N records (default 10,000; 7-field `customers` records, two of
them blind-indexed) through `privacy.erasure.service.erase_subject`, and compares it with
a baseline measured in the same run: a plain `DELETE` of the same kinds of rows (blind
index, records, subject) for another subject of the same size, in one transaction.

Reported per variant (median of R rounds, variants alternating): wall time, and peak
Python heap during the call (tracemalloc, measured on a separate subject so that tracing
does not slow the timed run), and Vault calls. The erasure does more than the baseline:
a Vault tombstone before and after, batches of `PRIVACY_ERASURE_BATCH_SIZE` committed one
by one, the consent tables, a signed receipt, webhook holders, SQLite `secure_delete` and
a WAL checkpoint.

Everything runs here: a throwaway `bao server -dev`, a SQLite file in a temporary
directory (or PostgreSQL at 127.0.0.1:5432, database dropped afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.audit import _runtime, dev_vault

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FIELDS = [
    {"name": "name", "type": "string", "category": "identity", "required": True},
    {"name": "email", "type": "email", "category": "contact", "searchable": True},
    {"name": "phone", "type": "phone", "category": "contact", "searchable": True},
    {"name": "birthday", "type": "date", "category": "identity"},
    {"name": "score", "type": "number", "category": "profile"},
    {"name": "vip", "type": "boolean", "category": "profile"},
    {"name": "prefs", "type": "json", "category": "profile"},
]


def _ctx() -> Any:
    from privacy.context import SYSTEM, RequestContext

    return RequestContext(principal=SYSTEM, request_id="bench-erasure")


def _setup(rt: Any) -> None:
    from privacy.catalog.models import Collection
    from privacy.db import new_session

    with new_session(rt.engine) as s:
        s.add(Collection(name="customers", fields=FIELDS))
        s.commit()


def _subject(rt: Any, n: int) -> uuid.UUID:
    """A subject with n records, written through the records service in batches."""
    from privacy.db import new_session
    from privacy.subjects import records, service
    from privacy.subjects.schemas import RecordCreate, SubjectCreate

    with new_session(rt.engine) as s:
        subject = service.create_subject(
            s, rt, _ctx(), data=SubjectCreate(external_id=f"bench-{uuid.uuid4().hex}")
        )
        s.commit()
        sid = subject.id
    for start in range(0, n, 1000):
        items = [
            RecordCreate(
                subject_id=sid,
                data={
                    "name": f"Person {i}",
                    "email": f"p{i}.{sid.hex[:6]}@example.org",
                    "phone": f"+4915112{i:06d}",
                    "birthday": "1990-01-01",
                    "score": i * 1.5,
                    "vip": i % 2 == 0,
                    "prefs": {"i": i},
                },
            )
            for i in range(start, min(n, start + 1000))
        ]
        with new_session(rt.engine) as s:
            records.create_records(s, rt, _ctx(), collection="customers", items=items)
            s.commit()
    return sid


def _erase(rt: Any, sid: uuid.UUID) -> None:
    from privacy.db import new_session
    from privacy.erasure.service import erase_subject

    with new_session(rt.engine) as s:
        result = erase_subject(s, rt, _ctx(), sid)
        s.commit()
    assert sum(result["erased"].values()) > 0


def _plain_delete(rt: Any, sid: uuid.UUID) -> None:
    from sqlalchemy import delete

    from privacy.db import new_session
    from privacy.subjects.models import BlindIndexEntry, Record, Subject

    with new_session(rt.engine) as s:
        s.exec(delete(BlindIndexEntry).where(BlindIndexEntry.subject_id == sid))
        s.exec(delete(Record).where(Record.subject_id == sid))
        s.exec(delete(Subject).where(Subject.id == sid))
        s.commit()


def _measure(rt: Any, fn: Callable[[Any, uuid.UUID], None], n: int) -> dict[str, float]:
    timed, traced = _subject(rt, n), _subject(rt, n)
    calls = rt.transit.calls
    started = time.perf_counter()
    fn(rt, timed)
    seconds = time.perf_counter() - started
    calls = rt.transit.calls - calls
    tracemalloc.start()
    try:
        fn(rt, traced)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"seconds": seconds, "peak_mib": peak / 2**20, "vault_calls": float(calls)}


def _pg_database() -> tuple[str, Callable[[], None]]:
    from sqlalchemy import text

    from privacy.db import make_engine

    name = f"bench_erasure_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench erasure", description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="1,000 records, one round")
    args = parser.parse_args(argv)
    n, rounds = (1000, 1) if args.quick else (args.records, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as tmp:
        workdir = Path(tmp)
        url, drop = _pg_database() if args.db == "postgres" else (None, lambda: None)
        try:
            with dev_vault(workdir) as (addr, token):
                from kms import TransitClient
                from kms.kv import KvStore

                KvStore(TransitClient(addr, token=token), "privacy-tombstones").ensure_mount()
                rt = _runtime(addr, token, workdir, url)
                try:
                    _setup(rt)
                    results = _run(rt, n, rounds)
                finally:
                    rt.close()
        finally:
            drop()
    _report(args.db, n, rounds, results)
    return 0


def _run(rt: Any, n: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    variants = {"erase_subject": _erase, "plain DELETE": _plain_delete}
    results: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up: imports, statement caches, Vault connections
        fn(rt, _subject(rt, 10))
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            results[name].append(_measure(rt, variants[name], n))
            print(f"round {r + 1}/{rounds} {name}: {results[name][-1]}", file=sys.stderr)
    return results


def _report(db: str, n: int, rounds: int, results: dict[str, list[dict[str, float]]]) -> None:
    med = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in results.items()
    }
    erase, base = med["erase_subject"], med["plain DELETE"]
    print(f"\nerasure of one subject with {n:,} records ({db}), median of {rounds} round(s)")
    print(f"{'':16}{'seconds':>10}{'records/s':>12}{'peak MiB':>10}{'Vault calls':>13}")
    for name, m in med.items():
        rate = n / m["seconds"] if m["seconds"] else 0.0
        print(
            f"{name:16}{m['seconds']:>10.3f}{rate:>12,.0f}{m['peak_mib']:>10.2f}"
            f"{m['vault_calls']:>13.0f}"
        )
    print(
        f"ratio erase/plain: time x{erase['seconds'] / base['seconds']:.2f}, "
        f"peak memory x{erase['peak_mib'] / max(base['peak_mib'], 1e-6):.2f}"
    )
