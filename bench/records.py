"""`python -m bench records`: record writes and reads through the real service, against
(a) the same stack storing plaintext and (b) an app calling Vault transit once per field.

One run, loopback only:
  1. a throwaway `bao server -dev` with transit enabled;
  2. for each target in turn (only one server runs at a time): start it as a subprocess,
     set it up, create the subjects, warm up, then measure W record writes and R reads
     with C concurrent clients, each a keep-alive httpx.Client in its own thread;
  3. a table with rates, p50/p99 latencies, Vault calls per request and the ratios,
     and the same as JSON in bench/results/records-<timestamp>.json.

Every request's answer is checked (status, and on reads the data written); any error
makes the command exit 1, so `python -m bench records --quick` is a smoke test.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from bench.cpu import CpuSnapshot
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
from bench.load import PhaseResult, WrongAnswer, run_phase

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

FIELDS = [
    {"name": "name", "type": "string", "category": "identity", "required": True},
    {"name": "email", "type": "email", "category": "contact", "searchable": True},
    {"name": "phone", "type": "phone", "category": "contact"},
    {"name": "birthday", "type": "date", "category": "identity"},
    {"name": "score", "type": "number", "category": "profile"},
]
APP_SCOPES = [
    "subjects:write",
    "subjects:read",
    "records:write:customers",
    "records:read:customers",
    "purpose:support",
]
PURPOSE = {
    "description": "Customer support (benchmark)",
    "legal_basis": "contract",
    "collections": ["customers"],
}
TARGETS = ("vault", "plain", "transit")


@dataclass
class Config:
    subjects: int
    writes: int
    reads: int
    transit_writes: int
    transit_reads: int
    warmup: int
    rounds: int
    concurrency: int
    db: str
    pg_url: str
    phase_timeout: float
    targets: tuple[str, ...]
    output: Path | None
    keep: bool
    # Another checkout of the service (`--before DIR`), measured as target "before".
    before: Path | None = None


@dataclass
class Target:
    """A running server under test and how to ask it how many Vault calls it made."""

    name: str
    label: str
    base_url: str
    headers: dict[str, str]
    vault_calls: Callable[[], float | None]
    writes: int
    reads: int
    server_pid: int
    vault_pid: int | None
    work: Workload | None = None
    phases: dict[str, PhaseResult] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# The workload: the same bodies for every target


def subject_body(i: int) -> dict[str, Any]:
    return {"external_id": f"bench-{i:07d}", "email": f"user{i}@example.org"}


def record_data(i: int) -> dict[str, Any]:
    """Five fields, already in the vault's normal form so that a read returns them as is."""
    return {
        "name": f"Customer {i} Example",
        "email": f"user{i}@example.org",
        "phone": f"+49151{10_000_000 + i % 89_999_999:08d}",
        "birthday": (date(1950, 1, 1) + timedelta(days=i % 20_000)).isoformat(),
        "score": round((i % 1000) / 7, 3),
    }


class Workload:
    """Subject ids and written record ids of one target, shared by its phases."""

    def __init__(self, subjects: int, records: int, seed: int = 7) -> None:
        self.subject_ids: list[str | None] = [None] * subjects
        self.record_ids: list[str | None] = [None] * records
        self.next_record = 0
        self.rng = random.Random(seed)

    def create_subject(self, client: httpx.Client, i: int) -> None:
        resp = client.post("/v1/subjects", json=subject_body(i))
        if resp.status_code != 201:
            raise WrongAnswer(f"POST /v1/subjects -> {resp.status_code} {resp.text[:200]}")
        self.subject_ids[i] = resp.json()["id"]

    def writer(self, count: int) -> Callable[[httpx.Client, int], None]:
        """Jobs writing the next `count` records, spread over the subjects."""
        subjects = [s for s in self.subject_ids if s is not None]
        if not subjects:
            raise BenchError("no subject was created")
        offset = self.next_record
        self.next_record += count

        def write(client: httpx.Client, i: int) -> None:
            n = offset + i
            body = {"subject_id": subjects[n % len(subjects)], "data": record_data(n)}
            resp = client.post("/v1/collections/customers/records", json=body)
            if resp.status_code != 201:
                raise WrongAnswer(f"POST record -> {resp.status_code} {resp.text[:200]}")
            self.record_ids[n] = resp.json()["id"]

        return write

    def reader(self, count: int) -> Callable[[httpx.Client, int], None]:
        """Jobs reading `count` records picked at random among those written so far."""
        written = [(n, rid) for n, rid in enumerate(self.record_ids) if rid is not None]
        if not written:
            raise BenchError("no record was written")
        order = [self.rng.randrange(len(written)) for _ in range(count)]

        def read(client: httpx.Client, i: int) -> None:
            n, rid = written[order[i]]
            resp = client.get(
                f"/v1/collections/customers/records/{rid}", params={"purpose": "support"}
            )
            if resp.status_code != 200:
                raise WrongAnswer(f"GET record -> {resp.status_code} {resp.text[:200]}")
            if resp.json().get("data") != record_data(n):
                raise WrongAnswer(f"GET record {rid}: data differs from what was written")

        return read


def run(cfg: Config, target: Target, console: Any, name: str, job: Any, count: int) -> PhaseResult:
    """One phase against one target; measured phases count Vault calls and CPU."""
    measured = not name.startswith("warm-up")
    before = target.vault_calls() if measured else None
    res = run_phase(
        name,
        target.base_url,
        target.headers,
        job,
        count,
        concurrency=cfg.concurrency,
        timeout=cfg.phase_timeout,
        snapshot=(lambda: CpuSnapshot.take(target.server_pid, target.vault_pid))
        if measured
        else None,
    )
    if before is not None:
        after = target.vault_calls()
        res.vault_calls = None if after is None else after - before
    if measured:
        if name in target.phases:
            target.phases[name].merge(res)
        else:
            target.phases[name] = res
    status = f"{res.ok}/{count} ok in {res.seconds:.1f}s ({res.rate:,.0f}/s)"
    if res.errors:
        status += f", [red]{res.errors} errors[/red]: {res.first_error}"
    if res.timed_out:
        status += f", [yellow]stopped at the {cfg.phase_timeout:.0f}s limit[/yellow]"
    console.print(f"  {target.name} {name}: {status}")
    return res


def prepare(cfg: Config, target: Target, console: Any) -> None:
    """Subjects (measured, not compared) and an unmeasured warm-up."""
    warm = min(cfg.warmup, target.writes)
    work = target.work = Workload(cfg.subjects, warm + target.writes)
    run(cfg, target, console, "subjects", work.create_subject, cfg.subjects)
    if warm:
        run(cfg, target, console, "warm-up writes", work.writer(warm), warm)
        run(cfg, target, console, "warm-up reads", work.reader(warm), warm)


def measure(cfg: Config, targets: list[Target], console: Any) -> None:
    """Writes then reads, in `rounds` slices taken by the targets in turn (the order rotates
    each round), so that a burst of load from elsewhere falls on every target alike."""
    for r in range(cfg.rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        console.print(f"[bold]round {r + 1}/{cfg.rounds}[/bold]")
        for phase in ("writes", "reads"):
            for t in order:
                assert t.work is not None
                total = t.writes if phase == "writes" else t.reads
                count = _share(total, cfg.rounds, r)
                if count:
                    job = t.work.writer(count) if phase == "writes" else t.work.reader(count)
                    run(cfg, t, console, phase, job, count)


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


# ---------------------------------------------------------------------------------------
# Starting the targets


Ready = Callable[[ExitStack], Target]


def launch_vault(
    cfg: Config, procs: Processes, vault: DevVault, pg: Postgres | None, name: str = "vault"
) -> Ready:
    """The real service: `privacy serve`, set up through its API as an operator would.

    Starts the server and returns at once; the returned function waits until it is ready.
    Target "before" runs the same way from the checkout given by `--before DIR`.
    """
    privacy = find_privacy()
    data_dir = procs.workdir / f"{name}-data"
    data_dir.mkdir()
    values = server_settings(vault, data_dir)
    if pg is not None:
        values["PRIVACY_DATABASE_URL"] = pg.create(name).replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    env = clean_env(values)
    if name == "before":
        assert cfg.before is not None
        # Its `privacy` package comes first; `bench` still resolves to this checkout.
        env["PYTHONPATH"] = os.pathsep.join((str(cfg.before), env["PYTHONPATH"]))
    # cwd is the work directory, so that no .env file of the developer's is read.
    if pg is not None:
        _run([privacy, "migrate"], env, procs.workdir, "privacy migrate")
    email, password = "bench-admin@example.org", "Bench-" + secrets.token_urlsafe(18) + "a1!"
    _run([privacy, "create-admin", "--email", email], env, procs.workdir, "create-admin", password)
    port = free_port()
    child = procs.start(
        f"privacy-serve-{name}", [privacy, "serve", "--host", LOOPBACK, "--port", str(port)], env
    )
    base = f"http://{LOOPBACK}:{port}"

    def ready(stack: ExitStack) -> Target:
        wait_http(child, f"{base}/readyz", timeout=90)
        headers = _vault_setup(base, email, password)
        metrics = stack.enter_context(local_client(base, timeout=10))
        label = (
            "Privacy Vault: `privacy serve`, envelope encryption, audit row per access, "
            "app token checked"
        )
        return Target(
            name=name,
            label=label if name == "vault" else f"the same, from {cfg.before}",
            base_url=base,
            headers=headers,
            vault_calls=lambda: _vault_calls_metric(metrics),
            writes=cfg.writes,
            reads=cfg.reads,
            server_pid=child.process.pid,
            vault_pid=vault.pid,
        )

    return ready


def _run(argv: list[str], env: dict[str, str], cwd: Path, what: str, stdin: str = "") -> None:
    done = subprocess.run(
        argv, input=stdin + "\n", env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise BenchError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _expect(resp: httpx.Response, *codes: int) -> dict[str, Any]:
    if resp.status_code not in codes:
        raise BenchError(
            f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text}"
        )
    return resp.json() if resp.content else {}


def _vault_setup(base: str, email: str, password: str) -> dict[str, str]:
    """Collection, purpose and app through the admin API; returns the app's auth header."""
    with local_client(base, timeout=30) as c:
        login = {"email": email, "password": password}
        admin = _bearer(_expect(c.post("/v1/auth/login", json=login), 200)["access_token"])
        resp = c.put("/v1/collections/customers", headers=admin, json={"fields": FIELDS})
        if resp.status_code == 403:
            # Admins may be required to enrol MFA before anything else (API.md, Auth).
            admin = _enrol_totp(c, admin, login)
            resp = c.put("/v1/collections/customers", headers=admin, json={"fields": FIELDS})
        _expect(resp, 200, 201)
        _expect(c.put("/v1/purposes/support", headers=admin, json=PURPOSE), 200, 201)
        app = _expect(
            c.post("/v1/apps", headers=admin, json={"name": "bench", "scopes": APP_SCOPES}), 201
        )
        form = {
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        }
        token = _expect(c.post("/v1/auth/token", data=form), 200)["access_token"]
    return _bearer(token)


def _enrol_totp(c: httpx.Client, token: dict[str, str], login: dict[str, str]) -> dict[str, str]:
    started = _expect(c.post("/v1/auth/mfa/totp", headers=token), 200, 201)
    secret = started.get("secret")
    if not secret and started.get("otpauth_uri"):
        secret = parse_qs(urlparse(started["otpauth_uri"]).query)["secret"][0]
    if not secret:
        raise BenchError(f"TOTP enrolment answered no secret: {sorted(started)}")
    confirm = {"code": _totp(secret)}
    codes = _expect(c.post("/v1/auth/mfa/totp/confirm", headers=token, json=confirm), 200)
    # The confirming code cannot be used twice (replay protection): use a recovery code.
    body = {**login, "totp": codes["recovery_codes"][0]}
    return _bearer(_expect(c.post("/v1/auth/login", json=body), 200)["access_token"])


def _totp(secret_b32: str, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 with HMAC-SHA1, as authenticator apps compute it."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(time.time()) // step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_VAULT_CALLS = re.compile(r"^privacy_vault_calls_total\s+([0-9.eE+]+)\s*$", re.MULTILINE)


def _vault_calls_metric(client: httpx.Client) -> float | None:
    resp = client.get("/metrics")
    resp.raise_for_status()
    match = _VAULT_CALLS.search(resp.text)
    return float(match.group(1)) if match else None


def launch_baseline(
    cfg: Config, procs: Processes, vault: DevVault, pg: Postgres | None, kind: str
) -> Ready:
    """A baseline app from this folder under uvicorn, with the service's uvicorn defaults."""
    sqlite_url = f"sqlite:///{procs.workdir / kind}.db"
    database = pg.create(kind) if pg is not None else sqlite_url
    values = {"BENCH_DATABASE": database}
    if kind == "transit":
        values |= {"BENCH_VAULT_ADDR": vault.addr, "BENCH_VAULT_TOKEN": vault.token}
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", f"bench.{kind}_app:app", "--host", LOOPBACK]
    argv += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    child = procs.start(f"{kind}-app", argv, clean_env(values))
    base = f"http://{LOOPBACK}:{port}"

    def ready(stack: ExitStack) -> Target:
        wait_http(child, f"{base}/healthz", timeout=60)
        if kind == "transit":
            counter = stack.enter_context(local_client(base, timeout=10))
            label = "bench/transit_app.py: one transit encrypt/decrypt call per field"
            writes, reads = cfg.transit_writes, cfg.transit_reads

            def calls() -> float | None:
                return float(counter.get("/bench/vault-calls").json()["calls"])
        else:
            label = "bench/plain_app.py: same stack, plaintext, no audit, token ignored"
            writes, reads = cfg.writes, cfg.reads

            def calls() -> float | None:
                return 0.0

        return Target(
            name=kind,
            label=label,
            base_url=base,
            # Sent like the vault's, and ignored.
            headers=_bearer("bench-" + secrets.token_urlsafe(24)),
            vault_calls=calls,
            writes=writes,
            reads=reads,
            server_pid=child.process.pid,
            vault_pid=vault.pid,
        )

    return ready


# ---------------------------------------------------------------------------------------
# Reporting


def ratios(targets: dict[str, Target]) -> list[dict[str, Any]]:
    """Vault rate ÷ baseline rate per phase, and the baseline's CPU cost per request (its
    server plus OpenBao) ÷ the vault's: above 1, a vault request is the cheaper one."""
    out: list[dict[str, Any]] = []
    vault = targets.get("vault")
    if vault is None:
        return out
    for other, aim in (("plain", 0.5), ("transit", 10.0), ("before", None)):
        base = targets.get(other)
        if base is None:
            continue
        for phase in ("writes", "reads"):
            a, b = vault.phases.get(phase), base.phases.get(phase)
            if not a or not b or not b.rate:
                continue
            ratio = a.rate / b.rate
            cost_a, cost_b = _cost(a), _cost(b)
            out.append(
                {
                    "metric": f"{phase}/s vault ÷ {other}",
                    "vault": round(a.rate, 1),
                    "baseline": round(b.rate, 1),
                    "ratio": round(ratio, 3),
                    "aim": aim,
                    "met": None if aim is None else ratio >= aim,
                    "cpu_ms_vault": None if cost_a is None else round(cost_a, 3),
                    "cpu_ms_baseline": None if cost_b is None else round(cost_b, 3),
                    "cpu_cost_ratio": round(cost_b / cost_a, 3) if cost_a and cost_b else None,
                }
            )
    return out


def ceilings(targets: dict[str, Target]) -> list[dict[str, Any]]:
    """Plain rate ÷ transit rate per phase: the plaintext app does no encryption, no audit
    and no token check at all, so no implementation on this stack (framework, server,
    database, machine) can be further ahead of the transit baseline than it is. When this is
    under the 10x aim, the aim cannot be met here, whatever the vault does."""
    plain, transit = targets.get("plain"), targets.get("transit")
    out: list[dict[str, Any]] = []
    if plain is None or transit is None:
        return out
    for phase in ("writes", "reads"):
        a, b = plain.phases.get(phase), transit.phases.get(phase)
        if a and b and b.rate:
            out.append(
                {
                    "metric": f"{phase}/s plain ÷ transit",
                    "plain": round(a.rate, 1),
                    "transit": round(b.rate, 1),
                    "ratio": round(a.rate / b.rate, 3),
                }
            )
    return out


def _cost(r: PhaseResult) -> float | None:
    server, vault = r.cpu_ms_per_request("server"), r.cpu_ms_per_request("vault")
    return None if server is None else server + (vault or 0.0)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def print_report(console: Any, cfg: Config, targets: dict[str, Target], rows: list) -> None:
    from rich.table import Table

    def ms(x: float | None, digits: int = 2) -> str:
        return "n/a" if x is None else f"{x:.{digits}f}"

    table = Table(
        title=f"Record benchmark: {cfg.db}, {cfg.concurrency} clients, {cfg.rounds} rounds",
        caption="CPU columns: milliseconds of CPU per request spent by the server process, "
        "by OpenBao and by this load generator; 'other' is the rest of the machine "
        "(PostgreSQL included), in cores busy on average during the phase.",
    )
    heads = ["target", "phase", "ok", "err", "s", "req/s", "p50 ms", "p99 ms", "Vault calls/req"]
    heads += ["server CPU", "OpenBao CPU", "client CPU", "other cores"]
    for col in heads:
        table.add_column(col, justify="left" if col in ("target", "phase") else "right")
    for t in targets.values():
        for name, r in t.phases.items():
            other = r.cpu.other / r.seconds if r.cpu.other is not None and r.seconds else None
            table.add_row(
                t.name,
                name,
                str(r.ok),
                str(r.errors) if not r.errors else f"[red]{r.errors}[/red]",
                f"{r.seconds:.1f}",
                f"{r.rate:,.0f}",
                f"{r.percentile(50):.1f}",
                f"{r.percentile(99):.1f}",
                ms(r.vault_calls_per_request, 3),
                ms(r.cpu_ms_per_request("server")),
                ms(r.cpu_ms_per_request("vault")),
                ms(r.cpu_ms_per_request("client")),
                ms(other),
            )
    console.print(table)
    for t in targets.values():
        console.print(f"  {t.name}: {t.label}")
    if rows:
        rt = Table(
            title="Ratios (higher is better for the vault)",
            caption="CPU cost ratio: baseline's (server + OpenBao) CPU per request ÷ the vault's",
        )
        for col in ("metric", "vault/s", "baseline/s", "ratio", "aim", "CPU cost ratio"):
            rt.add_column(col, justify="left" if col == "metric" else "right")
        for row in rows:
            mark = "[green]met[/green]" if row["met"] else "[red]not met[/red]"
            aim = "" if row["aim"] is None else f"≥ {row['aim']}x {mark}"
            cost = row["cpu_cost_ratio"]
            rt.add_row(
                row["metric"],
                f"{row['vault']:,.0f}",
                f"{row['baseline']:,.0f}",
                f"{row['ratio']:.2f}x",
                aim,
                "n/a" if cost is None else f"{cost:.2f}x",
            )
        console.print(rt)
    ceiling = ceilings(targets)
    if ceiling:
        ct = Table(
            title="Ceiling for the ÷ transit aim: the plaintext app against transit-per-field",
            caption="No encryption, audit or auth at all: no implementation on this stack "
            "and machine can be further ahead of transit than this.",
        )
        for col in ("metric", "plain/s", "transit/s", "ratio"):
            ct.add_column(col, justify="left" if col == "metric" else "right")
        for row in ceiling:
            ct.add_row(
                row["metric"],
                f"{row['plain']:,.0f}",
                f"{row['transit']:,.0f}",
                f"{row['ratio']:.2f}x",
            )
        console.print(ct)


def write_json(cfg: Config, started: datetime, targets: dict[str, Target], rows: list) -> Path:
    path = cfg.output or RESULTS_DIR / f"records-{started:%Y%m%dT%H%M%SZ}-{cfg.db}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "records",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in cfg.__dict__.items()
            if k not in ("pg_url", "keep")
        },
        "targets": {
            name: {
                "label": t.label,
                "phases": {p: r.summary() for p, r in t.phases.items()},
            }
            for name, t in targets.items()
        },
        "ratios": rows,
        "ceilings": ceilings(targets),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------
# Command line


def parse(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(
        prog="python -m bench records",
        description="Record writes/reads through Privacy Vault vs plaintext and "
        "transit-per-field baselines, on loopback.",
    )
    p.add_argument("--subjects", type=int, default=200, help="data subjects (default 200)")
    p.add_argument("--writes", type=int, default=3000, help="measured writes (default 3000)")
    p.add_argument("--reads", type=int, default=3000, help="measured reads (default 3000)")
    p.add_argument(
        "--transit-writes", type=int, default=500, help="writes for the transit baseline"
    )
    p.add_argument("--transit-reads", type=int, default=500, help="reads for the transit baseline")
    p.add_argument("--warmup", type=int, default=200, help="unmeasured writes and reads first")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="slices in which the targets take turns, to spread noise evenly (default 3)",
    )
    p.add_argument("--concurrency", "-c", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_URL),
        help="PostgreSQL on loopback where throwaway databases are created and dropped "
        "(default $BENCH_POSTGRES_URL or %(default)s)",
    )
    p.add_argument("--phase-timeout", type=float, default=300.0, help="seconds at most per phase")
    p.add_argument(
        "--only", action="append", choices=TARGETS, help="run only this target (repeatable)"
    )
    p.add_argument("--quick", action="store_true", help="small numbers: a smoke run, < 30 s")
    p.add_argument("--output", "-o", type=Path, help="JSON results file")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    p.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also measure the service from this checkout (e.g. `git archive <commit>` "
        "extracted), as target 'before', in the same rounds as the others",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.subjects, a.writes, a.reads = min(a.subjects, 20), min(a.writes, 200), min(a.reads, 200)
        a.transit_writes, a.transit_reads = min(a.transit_writes, 40), min(a.transit_reads, 40)
        a.warmup, a.phase_timeout = min(a.warmup, 30), min(a.phase_timeout, 60.0)
        a.rounds = min(a.rounds, 2)
    for name in ("subjects", "writes", "reads", "transit_writes", "transit_reads", "concurrency"):
        if not 1 <= getattr(a, name) <= 1_000_000:
            p.error(f"--{name.replace('_', '-')} must be between 1 and 1000000")
    if not 0 <= a.warmup <= 100_000 or not 1 <= a.phase_timeout <= 3600:
        p.error("--warmup must be 0..100000 and --phase-timeout 1..3600")
    if a.concurrency > 64:
        p.error("--concurrency is at most 64")
    if not 1 <= a.rounds <= 20:
        p.error("--rounds must be 1..20")
    if a.before is not None and not (a.before / "privacy" / "__init__.py").is_file():
        p.error("--before must be a checkout of this project (DIR/privacy/ not found)")
    return Config(
        subjects=a.subjects,
        writes=a.writes,
        reads=a.reads,
        transit_writes=a.transit_writes,
        transit_reads=a.transit_reads,
        warmup=a.warmup,
        rounds=a.rounds,
        concurrency=a.concurrency,
        db=a.db,
        pg_url=a.pg_url,
        phase_timeout=a.phase_timeout,
        targets=tuple(t for t in TARGETS if not a.only or t in a.only)
        + (("before",) if a.before is not None else ()),
        output=a.output,
        keep=a.keep,
        before=a.before.resolve() if a.before is not None else None,
    )


def _sigterm(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    from rich.console import Console

    cfg = parse(argv)
    console = Console(stderr=True)
    out = Console(width=None if sys.stdout.isatty() else 160)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="privacy-bench-"))
    procs = Processes(workdir)
    pg: Postgres | None = None
    targets: dict[str, Target] = {}
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        if cfg.db == "postgres":
            pg = Postgres(cfg.pg_url)
        console.print(f"[bold]records benchmark[/bold] on {cfg.db}; work dir {workdir}")
        vault = start_dev_vault(procs)
        with ExitStack() as clients:
            # Start every server first (they boot in parallel), then set each one up.
            # Servers that are not being measured sit idle.
            console.print(f"starting {', '.join(cfg.targets)} ({time.monotonic() - t0:.0f}s)")
            pending = {
                kind: launch_vault(cfg, procs, vault, pg, kind)
                if kind in ("vault", "before")
                else launch_baseline(cfg, procs, vault, pg, kind)
                for kind in sorted(cfg.targets, key=lambda k: k in ("vault", "before"))
            }
            for kind in cfg.targets:
                targets[kind] = pending[kind](clients)
                console.print(f"[bold]{kind}[/bold] ready ({time.monotonic() - t0:.0f}s)")
                prepare(cfg, targets[kind], console)
            measure(cfg, list(targets.values()), console)
        rows = ratios(targets)
        print_report(out, cfg, targets, rows)
        path = write_json(cfg, started, targets, rows)
        console.print(f"results: {path} ({time.monotonic() - t0:.0f}s in all)")
        failed = sum(r.errors for t in targets.values() for r in t.phases.values())
        if failed:
            console.print(f"[red]{failed} requests failed[/red]")
            return 1
        return 0
    except BenchError as exc:
        console.print(f"[red]benchmark failed:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; stopping servers[/yellow]")
        return 130
    finally:
        procs.close()
        if pg is not None:
            try:
                pg.drop_all()
            except Exception as exc:  # report, but never mask the run's own outcome
                console.print(f"[yellow]could not drop the benchmark databases: {exc}[/yellow]")
        signal.signal(signal.SIGTERM, previous)
        if cfg.keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
