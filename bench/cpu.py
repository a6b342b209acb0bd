"""CPU time spent by the processes under test, and by everything else on the machine.

On a shared 2-core machine wall-clock rates move with whatever else runs; CPU seconds per
request move much less, and the rest of the machine's busy time says how noisy a phase was.
Linux /proc only; elsewhere every reading is None.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process (all its threads), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it are plain numbers.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy (all cores), or None."""
    try:
        with open("/proc/stat") as f:
            first = f.readline().split()
    except OSError:
        return None
    ticks = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK


@dataclass
class CpuSnapshot:
    server: float | None
    vault: float | None
    client: float
    machine: float | None

    @classmethod
    def take(cls, server_pid: int | None, vault_pid: int | None) -> CpuSnapshot:
        return cls(
            server=process_cpu(server_pid) if server_pid else None,
            vault=process_cpu(vault_pid) if vault_pid else None,
            client=self_cpu(),
            machine=machine_busy(),
        )


@dataclass
class CpuUse:
    """CPU seconds used during a phase."""

    server: float | None = None
    vault: float | None = None
    client: float | None = None
    other: float | None = None  # the rest of the machine (PostgreSQL included, if used)

    @classmethod
    def between(cls, a: CpuSnapshot, b: CpuSnapshot) -> CpuUse:
        server = _delta(a.server, b.server)
        vault = _delta(a.vault, b.vault)
        client = b.client - a.client
        machine = _delta(a.machine, b.machine)
        other = None
        if machine is not None:
            other = max(0.0, machine - client - (server or 0.0) - (vault or 0.0))
        return cls(server, vault, client, other)

    def add(self, more: CpuUse) -> None:
        for name in ("server", "vault", "client", "other"):
            setattr(self, name, _sum(getattr(self, name), getattr(more, name)))


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else max(0.0, b - a)


def _sum(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b
