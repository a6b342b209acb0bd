"""A bounded closed-loop load driver: C threads, each with its own keep-alive httpx client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.cpu import CpuSnapshot, CpuUse
from bench.harness import local_client

# One request: given the thread's client and the job index, send it and check the answer
# (status and body), raising WrongAnswer if it is not right. Any exception is an error.
Job = Callable[[httpx.Client, int], None]


class WrongAnswer(Exception):
    """The server answered, but not what the job expected."""


@dataclass
class PhaseResult:
    name: str
    requested: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    timed_out: bool = False
    first_error: str | None = None
    vault_calls: float | None = None
    cpu: CpuUse = field(default_factory=CpuUse)
    rounds: int = 1

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies, in ms."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def vault_calls_per_request(self) -> float | None:
        if self.vault_calls is None or not self.ok:
            return None
        return self.vault_calls / (self.ok + self.errors)

    def cpu_ms_per_request(self, who: str) -> float | None:
        """CPU milliseconds per request spent by `who` (server, vault, client, other)."""
        spent = getattr(self.cpu, who)
        total = self.ok + self.errors
        return None if spent is None or not total else spent * 1000 / total

    def merge(self, more: PhaseResult) -> None:
        """Add another round of the same phase."""
        self.requested += more.requested
        self.ok += more.ok
        self.errors += more.errors
        self.seconds += more.seconds
        self.latencies_ms.extend(more.latencies_ms)
        self.timed_out = self.timed_out or more.timed_out
        self.first_error = self.first_error or more.first_error
        if self.vault_calls is None or more.vault_calls is None:
            self.vault_calls = None
        else:
            self.vault_calls += more.vault_calls
        self.cpu.add(more.cpu)
        self.rounds += 1

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        del out["latencies_ms"]
        out["cpu_ms_per_request"] = {
            who: _round(self.cpu_ms_per_request(who), 3)
            for who in ("server", "vault", "client", "other")
        }
        out.update(
            rate_per_s=round(self.rate, 1),
            p50_ms=round(self.percentile(50), 2),
            p90_ms=round(self.percentile(90), 2),
            p99_ms=round(self.percentile(99), 2),
            max_ms=round(max(self.latencies_ms), 2) if self.latencies_ms else None,
            vault_calls_per_request=_round(self.vault_calls_per_request, 4),
        )
        return out


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def run_phase(
    name: str,
    base_url: str,
    headers: dict[str, str],
    job: Job,
    count: int,
    *,
    concurrency: int,
    timeout: float,
    snapshot: Callable[[], CpuSnapshot] | None = None,
) -> PhaseResult:
    """Run `count` jobs on `concurrency` threads; stop early (timed_out) after `timeout` s."""
    lock = threading.Lock()
    next_index = 0
    errors = 0
    first_error: list[str] = []
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    ready = threading.Barrier(concurrency + 1)
    go = threading.Event()
    deadline = 0.0

    def take() -> int | None:
        nonlocal next_index
        with lock:
            if next_index >= count or time.monotonic() > deadline:
                return None
            i = next_index
            next_index += 1
            return i

    def fail(message: str) -> None:
        nonlocal errors
        with lock:
            errors += 1
            if not first_error:
                first_error.append(message)

    def worker(slot: int) -> None:
        mine = latencies[slot]
        try:
            client = local_client(base_url, headers=headers, timeout=30.0)
        except Exception as exc:
            fail(f"client: {type(exc).__name__}: {exc}")
            ready.abort()
            return
        with client:
            try:
                ready.wait(timeout=60)
            except threading.BrokenBarrierError:
                return
            go.wait()
            while (i := take()) is not None:
                t0 = time.perf_counter()
                try:
                    job(client, i)
                except Exception as exc:  # a refused connection must not stop the phase
                    fail(f"job {i}: {type(exc).__name__}: {exc}")
                    continue
                mine.append((time.perf_counter() - t0) * 1000)

    threads = [
        threading.Thread(target=worker, args=(slot,), name=f"{name}-{slot}", daemon=True)
        for slot in range(concurrency)
    ]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=60)  # every thread has its client: measure from here
    except threading.BrokenBarrierError:
        for t in threads:
            t.join()
        raise RuntimeError(f"{name}: the client threads could not start: {first_error}") from None
    before = snapshot() if snapshot else None
    deadline = time.monotonic() + timeout
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    cpu = CpuUse.between(before, snapshot()) if before and snapshot else CpuUse()
    merged = [x for per in latencies for x in per]
    return PhaseResult(
        name=name,
        requested=count,
        ok=len(merged),
        errors=errors,
        seconds=seconds,
        latencies_ms=merged,
        timed_out=next_index < count,
        first_error=first_error[0] if first_error else None,
        cpu=cpu,
    )
