"""`python -m bench dsr [--records N] [--quick]`: access export of one subject with many
records: time and peak Python memory (tracemalloc).

In-process, on this machine: a throwaway `bao server -dev`, a fresh SQLite file, the real
services. One subject gets N records (default 10,000; 5 fields each) in batches of 1,000.
Then, in the same run:

- **export**: `privacy.requests.export.build` (data.json, JSON Schema, one CSV per
  collection, consent history, access log, summary.pdf, signed manifest, all streamed into
  an archive encrypted at rest);
- **baseline**: the same records read through the same decryption path into memory and
  serialised as one JSON document (what a non-streaming export would hold at once).

Each is timed without tracemalloc (median of `--rounds`), then run once more under
tracemalloc for its peak. A tenth of the records is exported too, to show that the
export's peak does not grow with the number of records.
"""

from __future__ import annotations

import argparse
import json
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

FIELDS = [
    {"name": "name", "type": "string", "category": "identity", "required": True},
    {"name": "email", "type": "email", "category": "contact", "searchable": True},
    {"name": "phone", "type": "phone", "category": "contact"},
    {"name": "birthday", "type": "date", "category": "identity"},
    {"name": "score", "type": "number", "category": "profile"},
]


def _ctx() -> Any:
    from privacy.context import Principal, RequestContext

    app = Principal(
        kind="app",
        id="bench",
        roles=frozenset({"app"}),
        scopes=frozenset({"subjects:write", "records:write:customers"}),
    )
    return RequestContext(app)


def _subject_with(rt: Any, n: int) -> uuid.UUID:
    from privacy.catalog.schemas import CollectionPut, PurposePut
    from privacy.catalog.service import put_collection, put_purpose
    from privacy.db import new_session
    from privacy.subjects.records import create_records
    from privacy.subjects.schemas import RecordCreate, SubjectCreate
    from privacy.subjects.service import create_subject

    ctx = _ctx()
    with new_session(rt.engine) as s:
        put_collection(s, ctx, name="customers", data=CollectionPut(fields=FIELDS))
        put_purpose(
            s,
            ctx,
            purpose_id="support",
            data=PurposePut(
                description="support", legal_basis="contract", collections=["customers"]
            ),
        )
        sid = create_subject(
            s,
            rt,
            ctx,
            data=SubjectCreate(external_id=f"b-{uuid.uuid4().hex}", email="b@example.org"),
        ).id
        s.commit()
    for start in range(0, n, 1000):
        items = [
            RecordCreate(
                subject_id=sid,
                data={
                    "name": f"Customer {i}",
                    "email": f"c{i}@example.org",
                    "phone": "+4915112345678",
                    "birthday": "1990-05-04",
                    "score": i,
                },
            )
            for i in range(start, min(n, start + 1000))
        ]
        with new_session(rt.engine) as s:
            create_records(s, rt, ctx, collection="customers", items=items)
            s.commit()
    return sid


def _export(rt: Any, sid: uuid.UUID) -> Callable[[], int]:
    from privacy.context import SYSTEM, RequestContext
    from privacy.db import new_session, utcnow
    from privacy.requests.deadlines import due_after
    from privacy.requests.export import build
    from privacy.requests.models import DataSubjectRequest

    def run() -> int:
        with new_session(rt.engine) as s:
            now = utcnow()
            req = DataSubjectRequest(
                subject_id=sid,
                type="access",
                status="in_progress",
                filed_by="bench",
                received_at=now,
                due_at=due_after(now),
            )
            s.add(req)
            s.flush()
            result = build(s, rt, RequestContext(SYSTEM), req)
            s.rollback()  # leave nothing behind but the file, removed below
            for path in (rt.settings.data_dir / "exports").glob("*.pvx"):
                path.unlink()
            return sum(result["records"].values())

    return run


def _in_memory(rt: Any, sid: uuid.UUID) -> Callable[[], int]:
    from sqlmodel import select

    from privacy.db import new_session
    from privacy.subjects import sealing
    from privacy.subjects.models import Record, Subject

    def run() -> int:
        with new_session(rt.engine) as s:
            subject = s.get(Subject, sid)
            cipher = sealing.cipher_for(rt, subject)
            rows = s.exec(select(Record).where(Record.subject_id == sid)).all()
            out = [
                {
                    name: sealing.open_value(
                        cipher, v, where=sealing.aad(sid, r.collection, r.id, name)
                    )
                    for name, v in r.sealed.items()
                }
                for r in rows
            ]
            return len(json.dumps(out))

    return run


def _measure(fn: Callable[[], int], rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": statistics.median(times), "peak_mib": peak / 2**20}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench dsr", description=__doc__)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1,000 records, one round")
    args = ap.parse_args(argv)
    n, rounds = (1000, 1) if args.quick else (args.records, args.rounds)
    with tempfile.TemporaryDirectory() as tmp, dev_vault(Path(tmp)) as (addr, token):
        small_rt = _runtime(addr, token, Path(tmp) / "small", None)
        rt = _runtime(addr, token, Path(tmp) / "big", None)
        try:
            small = _subject_with(small_rt, max(1, n // 10))
            big = _subject_with(rt, n)
            res = {
                "export": _measure(_export(rt, big), rounds),
                "baseline_in_memory": _measure(_in_memory(rt, big), rounds),
                f"export_{max(1, n // 10)}_records": _measure(_export(small_rt, small), rounds),
            }
        finally:
            rt.close()
            small_rt.close()
    e, b = res["export"], res["baseline_in_memory"]
    print(f"records: {n}")
    for name, r in res.items():
        print(f"  {name:24} {r['seconds']:7.2f} s   peak {r['peak_mib']:7.1f} MiB")
    print(f"  export/baseline time   {e['seconds'] / b['seconds']:.2f}x")
    print(f"  export/baseline memory {e['peak_mib'] / b['peak_mib']:.2f}x")
    print(f"  records/s exported     {n / e['seconds']:.0f}")
    print(json.dumps({"records": n, **res}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
