"""`python -m bench purge`: retention purge and KEK rewrap throughput, and what a purge costs
the API while it runs.

Per backend (SQLite, PostgreSQL) it starts a dev OpenBao and the real `privacy serve` with
a retention file (`customers`, 30 days after creation, delete), sets it up through the API
(collection, purpose, app), writes `--live` real records through the API, and then:

1. seeds N expired records (`--records`, placeholder ciphertext, one blind-index row
   each: what the purge deletes) straight into the database, and purges them with nothing
   else running: **records/s**, read from the purge's own job-run record;
2. measures the API alone (reads of the live records by the app, `--concurrency`
   threads): the **baseline p50/p99**;
3. seeds N again and purges while the same reads run: **p99 during the purge** and its
   ratio to the baseline. The purge runs the way deployments run it: on SQLite inside
   the server (`POST /v1/retention/purge`, as the embedded default's scheduler would),
   on PostgreSQL in its own process (`privacy retention purge`, as `privacy worker` would);
4. wraps `--deks` subject DEKs under the KEK (transit `encrypt` batches with each
   subject's context, so they are exactly what `datakey` would store), rotates the KEK
   and times `rewrap_pending`: **DEKs/s**.

Every reading is checked (status 200 and the value written); any error exits 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import (
    LOOPBACK,
    BenchError,
    DevVault,
    Postgres,
    Processes,
    clean_env,
    find_privacy,
    free_port,
    local_client,
    server_settings,
    start_dev_vault,
    wait_http,
)
from bench.records import _run, _vault_setup

POLICY = """\
[[policy]]
id = "customers-30d"
collections = ["customers"]
period = "P30D"
trigger = "created"
action = "delete"
"""
GOALS = {"records_per_s": 20_000, "p99_ratio": 2.0, "deks_per_s": 5_000}


@dataclass
class Result:
    db: str
    records: int
    purge_seconds: float = 0.0
    purge_under_load_seconds: float = 0.0
    p50_base: float = 0.0
    p99_base: float = 0.0
    p50_during: float = 0.0
    p99_during: float = 0.0
    reads_base: int = 0
    reads_during: int = 0
    deks: int = 0
    rewrap_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        return self.records / self.purge_seconds if self.purge_seconds else 0.0

    @property
    def records_per_s_under_load(self) -> float:
        s = self.purge_under_load_seconds
        return self.records / s if s else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.p99_during / self.p99_base if self.p99_base else float("nan")

    @property
    def deks_per_s(self) -> float:
        return self.deks / self.rewrap_seconds if self.rewrap_seconds else 0.0


# --- the server --------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    headers: dict[str, str]
    env: dict[str, str]
    db_url: str
    data_dir: Path
    pid: int


def launch(
    procs: Processes, vault: DevVault, pg: Postgres | None, label: str, batch: int | None = None
) -> Server:
    privacy = find_privacy()
    data_dir = procs.workdir / f"{label}-data"
    data_dir.mkdir()
    policy = procs.workdir / "retention.toml"
    policy.write_text(POLICY)
    values = {
        **server_settings(vault, data_dir),
        "PRIVACY_RETENTION_FILE": str(policy),
        "PRIVACY_RETENTION_SCHEDULE": "",  # the benchmark triggers purges itself
        "PRIVACY_REPORT_SCHEDULE": "",
        "PRIVACY_SCHEDULER": "off",
        # The admin's token triggers the purges; TOTP enrolment is not what is measured.
        "PRIVACY_MFA_REQUIRED_ROLES": "",
    }
    if batch:
        values["PRIVACY_RETENTION_BATCH_SIZE"] = str(batch)
    if pg is not None:
        db_url = pg.create(label).replace("postgresql://", "postgresql+psycopg://", 1)
        values["PRIVACY_DATABASE_URL"] = db_url
    else:
        db_url = f"sqlite:///{data_dir / 'privacy.db'}"
    env = clean_env(values)
    if pg is not None:
        _run([privacy, "migrate"], env, procs.workdir, "privacy migrate")
    email, password = "bench-admin@example.org", "Bench-" + secrets.token_urlsafe(18) + "a1!"
    _run([privacy, "create-admin", "--email", email], env, procs.workdir, "create-admin", password)
    port = free_port()
    child = procs.start(
        f"serve-{label}", [privacy, "serve", "--host", LOOPBACK, "--port", str(port)], env
    )
    base = f"http://{LOOPBACK}:{port}"
    wait_http(child, f"{base}/readyz", timeout=90)
    headers = _vault_setup(base, email, password)
    with local_client(base, timeout=30) as c:
        login = c.post("/v1/auth/login", json={"email": email, "password": password})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    server = Server(base, headers, env, db_url, data_dir, child.process.pid)
    # The admin triggers purges through the API (the SQLite case): keep its token.
    server.env["BENCH_ADMIN_AUTH"] = admin["Authorization"]
    return server


def live_records(server: Server, n: int) -> list[tuple[str, str]]:
    """n records written through the API: (record id, name) pairs for the readers."""
    out = []
    with local_client(server.base, headers=server.headers, timeout=30) as c:
        for i in range(n):
            s = c.post("/v1/subjects", json={"external_id": f"live-{i}-{uuid.uuid4().hex[:6]}"})
            if s.status_code != 201:
                raise BenchError(f"subject: {s.status_code} {s.text}")
            name = f"Live {i}"
            r = c.post(
                "/v1/collections/customers/records",
                json={"subject_id": s.json()["id"], "data": {"name": name}},
            )
            if r.status_code != 201:
                raise BenchError(f"record: {r.status_code} {r.text}")
            out.append((r.json()["id"], name))
    return out


# --- seeding -----------------------------------------------------------------------------


def seed_expired(db_url: str, n: int, *, subjects: int = 1000) -> None:
    """n records created over one day 400 days ago, each with one blind-index row, spread
    over subjects.

    Inserted through SQLAlchemy Core (executemany), so ids and times are stored exactly as
    the service stores them on either backend."""
    from privacy.db import make_engine
    from privacy.ids import uuid7
    from privacy.subjects.models import BlindIndexEntry, Record, Subject

    engine = make_engine(db_url)
    old = datetime.now(UTC) - timedelta(days=400)
    try:
        subject_ids = [uuid.uuid4() for _ in range(subjects)]
        with engine.begin() as conn:
            conn.execute(
                Subject.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "id": s,
                        "external_id_index": uuid.uuid4().hex,
                        "external_id_sealed": b"x",
                        "wrapped_dek": "vault:v1:placeholder",
                        "created_by": "bench",
                        "created_at": old,
                        "updated_at": old,
                    }
                    for s in subject_ids
                ],
            )
        chunk = 20_000
        for start in range(0, n, chunk):
            rows, index = [], []
            for i in range(start, min(n, start + chunk)):
                # Written over the day 400 days ago, with ids from those times (ids.py).
                at = old + timedelta(seconds=i * 86_400 / n)
                rid, sid = uuid7(at), subject_ids[i % subjects]
                rows.append(
                    {
                        "id": rid,
                        "subject_id": sid,
                        "collection": "customers",
                        "sealed": {"name": "c2VhbGVk"},
                        "created_by": "bench",
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                index.append(
                    {
                        "collection": "customers",
                        "field": "name",
                        "digest": uuid.uuid4().hex,
                        "record_id": rid,
                        "subject_id": sid,
                    }
                )
            with engine.begin() as conn:
                conn.execute(Record.__table__.insert(), rows)  # type: ignore[attr-defined]
                conn.execute(BlindIndexEntry.__table__.insert(), index)  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def last_purge_seconds(db_url: str) -> float:
    from sqlalchemy import text

    from privacy.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT started_at, finished_at, outcome FROM job_runs "
                    "WHERE job = 'retention-purge' ORDER BY started_at DESC LIMIT 1"
                )
            ).one()
    finally:
        engine.dispose()
    started, finished, outcome = row
    if outcome != "ok":
        raise BenchError(f"the purge ended {outcome}")
    if isinstance(started, str):
        started, finished = datetime.fromisoformat(started), datetime.fromisoformat(finished)
    return (finished - started).total_seconds()


# --- purging -----------------------------------------------------------------------------


def purge(server: Server, procs: Processes, label: str) -> None:
    """One purge, the way the deployment would run it (see the module docstring)."""
    if server.db_url.startswith("sqlite"):
        with local_client(server.base, timeout=3600) as c:
            r = c.post(
                "/v1/retention/purge",
                headers={"Authorization": server.env["BENCH_ADMIN_AUTH"]},
            )
            if r.status_code != 200:
                raise BenchError(f"purge: {r.status_code} {r.text[:300]}")
        return
    _run([find_privacy(), "retention", "purge"], server.env, procs.workdir, f"purge {label}")


@dataclass
class Reads:
    latencies_ms: list[float]
    errors: int
    first_error: str | None

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5))) - 1]


def reads_while(
    server: Server,
    live: list[tuple[str, str]],
    stop: threading.Event,
    concurrency: int,
    limit: int,
) -> Reads:
    """Reads by the app on `concurrency` threads until `limit` reads or `stop` is set."""
    lock = threading.Lock()
    out = Reads([], 0, None)
    taken = [0]

    def take() -> int | None:
        with lock:
            if stop.is_set() or taken[0] >= limit:
                return None
            taken[0] += 1
            return taken[0]

    def worker() -> None:
        with local_client(server.base, headers=server.headers, timeout=60) as client:
            while (i := take()) is not None:
                rid, name = live[i % len(live)]
                t0 = time.perf_counter()
                try:
                    r = client.get(f"/v1/collections/customers/records/{rid}?purpose=support")
                    ok = r.status_code == 200 and r.json()["data"].get("name") == name
                    why = f"{r.status_code} {r.text[:200]}"
                except Exception as exc:  # counted, reported, and the run fails
                    ok, why = False, type(exc).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        out.latencies_ms.append(ms)
                    else:
                        out.errors += 1
                        out.first_error = out.first_error or why

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _latencies(reads: Reads) -> tuple[float, float, int]:
    if reads.errors:
        raise BenchError(f"{reads.errors} reads failed: {reads.first_error}")
    return reads.percentile(50), reads.percentile(99), len(reads.latencies_ms)


# --- rewrap ------------------------------------------------------------------------------


def rewrap(server: Server, vault: DevVault, deks: int) -> float:
    """Seconds to rewrap `deks` subject DEKs after a KEK rotation (in-process, batched)."""
    from sqlalchemy import text

    from privacy.config import Settings
    from privacy.db import make_engine
    from privacy.keys import rotation
    from privacy.runtime import build_runtime
    from privacy.subjects.models import Subject
    from privacy.subjects.sealing import key_context

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=server.data_dir,
        vault_addr=vault.addr,
        vault_token=vault.token,
        database_url=server.db_url,
        auto_migrate=False,
        retention_file=None,
    )
    rt = build_runtime(settings, engine=make_engine(server.db_url))
    try:
        kek = settings.kek_name
        with local_client(vault.addr, headers={"X-Vault-Token": vault.token}, timeout=60) as c:
            for start in range(0, deks, 100):
                ids = [uuid.uuid4() for _ in range(min(100, deks - start))]
                batch = [
                    {
                        "plaintext": base64.b64encode(os.urandom(32)).decode(),
                        "context": base64.b64encode(key_context(s)).decode(),
                    }
                    for s in ids
                ]
                resp = c.post(f"/v1/transit/encrypt/{kek}", json={"batch_input": batch})
                wrapped = [r["ciphertext"] for r in resp.json()["data"]["batch_results"]]
                with rt.engine.begin() as conn:
                    conn.execute(
                        Subject.__table__.insert(),  # type: ignore[attr-defined]
                        [
                            {
                                "id": s,
                                "external_id_index": uuid.uuid4().hex,
                                "external_id_sealed": b"x",
                                "wrapped_dek": w,
                                "created_by": "bench",
                                "created_at": datetime.now(UTC),
                                "updated_at": datetime.now(UTC),
                            }
                            for s, w in zip(ids, wrapped, strict=True)
                        ],
                    )
        # The placeholder subjects of the purge seeding do not unwrap: remove them first.
        with rt.engine.begin() as conn:
            conn.execute(text("DELETE FROM subjects WHERE wrapped_dek = 'vault:v1:placeholder'"))
        rt.transit.rotate_key(kek)
        t0 = time.perf_counter()
        done = rotation.rewrap_pending(rt)
        seconds = time.perf_counter() - t0
        if done < deks:
            raise BenchError(f"rewrapped {done} of {deks}")
        rt.dek_cache.clear()
        with rt.engine.connect() as conn:
            sid, w = conn.execute(text("SELECT id, wrapped_dek FROM subjects LIMIT 1")).one()
        # One of them still unwraps under the new version (a full check is in the tests).
        rt.keyring.cipher(w, key_context(sid if isinstance(sid, uuid.UUID) else uuid.UUID(sid)))
        return seconds
    finally:
        rt.close()


# --- main --------------------------------------------------------------------------------


def run_backend(args: argparse.Namespace, db: str, workdir: Path) -> Result:
    procs = Processes(workdir)
    pg = Postgres(args.pg_url) if db == "postgres" else None
    res = Result(db=db, records=args.records)
    try:
        vault = start_dev_vault(procs)
        server = launch(procs, vault, pg, db, args.batch)
        live = live_records(server, args.live)
        print(f"[{db}] seeding {args.records:,} expired records", flush=True)
        seed_expired(server.db_url, args.records)
        purge(server, procs, db)
        res.purge_seconds = last_purge_seconds(server.db_url)
        print(f"[{db}] purge alone: {res.records_per_s:,.0f} records/s", flush=True)

        base = reads_while(server, live, threading.Event(), args.concurrency, args.reads)
        res.p50_base, res.p99_base, res.reads_base = _latencies(base)
        seed_expired(server.db_url, args.records)
        stop, box = threading.Event(), {}
        reader = threading.Thread(
            target=lambda: box.setdefault(
                "p", reads_while(server, live, stop, args.concurrency, 10**9)
            )
        )
        reader.start()
        time.sleep(0.5)
        try:
            purge(server, procs, db)
        finally:
            stop.set()
            reader.join()
        res.purge_under_load_seconds = last_purge_seconds(server.db_url)
        res.p50_during, res.p99_during, res.reads_during = _latencies(box["p"])
        print(
            f"[{db}] p99 {res.p99_base:.1f} ms alone, {res.p99_during:.1f} ms during the "
            f"purge ({res.p99_ratio:.2f}x)",
            flush=True,
        )
        res.deks = args.deks
        res.rewrap_seconds = rewrap(server, vault, args.deks)
        print(f"[{db}] rewrap: {res.deks_per_s:,.0f} DEKs/s", flush=True)
    finally:
        procs.close()
        if pg is not None:
            pg.drop_all()
    return res


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench purge", description=__doc__.split("\n")[0])
    p.add_argument(
        "--records",
        type=int,
        default=200_000,
        help="expired records per purge (1000000 for the full run)",
    )
    p.add_argument("--deks", type=int, default=20_000, help="DEKs to rewrap")
    p.add_argument(
        "--batch", type=int, help="PRIVACY_RETENTION_BATCH_SIZE for the server (default: its own)"
    )
    p.add_argument("--live", type=int, default=100, help="records the readers read")
    p.add_argument("--reads", type=int, default=3000, help="reads in the baseline phase")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    p.add_argument("--quick", action="store_true", help="small N: a smoke run")
    p.add_argument("-o", "--output", type=Path, help="write the results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.records, args.deks, args.live, args.reads = 20_000, 2_000, 30, 600
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-purge-") as tmp, ExitStack():
        for db in dbs:
            (Path(tmp) / db).mkdir()
            try:
                results.append(run_backend(args, db, Path(tmp) / db))
            except BenchError as exc:
                print(f"[{db}] {exc}", file=sys.stderr)
                return 1
    _report(results)
    if args.output:
        args.output.write_text(json.dumps([_as_dict(r) for r in results], indent=2))
    return 0


def _as_dict(r: Result) -> dict[str, Any]:
    return {
        "db": r.db,
        "records": r.records,
        "records_per_s": round(r.records_per_s),
        "records_per_s_under_load": round(r.records_per_s_under_load),
        "p50_base_ms": round(r.p50_base, 2),
        "p99_base_ms": round(r.p99_base, 2),
        "p50_during_ms": round(r.p50_during, 2),
        "p99_during_ms": round(r.p99_during, 2),
        "p99_ratio": round(r.p99_ratio, 2),
        "reads_base": r.reads_base,
        "reads_during": r.reads_during,
        "deks": r.deks,
        "deks_per_s": round(r.deks_per_s),
    }


def _report(results: list[Result]) -> None:
    print()
    print(
        f"{'db':9} {'records':>9} {'purge rec/s':>12} {'under load':>11} {'p99 alone':>10} "
        f"{'p99 during':>11} {'ratio':>6} {'rewrap DEK/s':>13}"
    )
    for r in results:
        print(
            f"{r.db:9} {r.records:>9,} {r.records_per_s:>12,.0f} "
            f"{r.records_per_s_under_load:>11,.0f} {r.p99_base:>8.1f}ms "
            f"{r.p99_during:>9.1f}ms {r.p99_ratio:>5.2f}x {r.deks_per_s:>13,.0f}"
        )
    print()
    for r in results:
        verdicts = [
            ("purge >= 20,000 records/s", r.records_per_s >= GOALS["records_per_s"]),
            ("p99 during purge <= 2x", r.p99_ratio <= GOALS["p99_ratio"]),
            ("rewrap >= 5,000 DEKs/s", r.deks_per_s >= GOALS["deks_per_s"]),
        ]
        print(f"{r.db}: " + "; ".join(f"{g}: {'met' if ok else 'NOT met'}" for g, ok in verdicts))
