"""The audit worker: links new entries every `audit_chain_interval` seconds, feeds them to
the security monitor, seals every `audit_seal_interval` seconds and purges old sealed
segments under `audit_retention_days`.

Each replica runs one, but on PostgreSQL only the holder of a session advisory lock (the
leader) works, so that the monitor sees every entry; another replica takes over when the
leader's connection goes away. On-demand work (seal, verify, export) goes through the same
object, so it feeds the same monitor.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, text

from privacy.audit import chain, seals
from privacy.audit.monitor import MONITOR, Alert, Monitor
from privacy.db import utcnow
from privacy.runtime import Runtime

log = logging.getLogger("privacy.audit.worker")

LEADER_LOCK = 0x7072697661756475  # "privaudu"
_PURGE_EVERY = 3600.0


class AuditWorker:
    def __init__(self, rt: Runtime, *, metrics: Any = None) -> None:
        self.rt = rt
        self.metrics = metrics
        self.monitor = Monitor(rt.settings, rt.engine, metrics=metrics)
        self.signer = seals.Signer(rt.transit, rt.settings.audit_signing_key)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader: Connection | None = None
        self._broken_reported = False
        self._last_purge = 0.0

    # --- on demand ---------------------------------------------------------------------

    def chain(self, *, wait: bool = True) -> int:
        """Link every committed entry now; raises chain.ChainBroken on truncation."""
        try:
            n = chain.chain(self.rt.engine, wait=wait, observe=self.monitor.observe)
        except chain.ChainBroken as exc:
            self._report_broken(str(exc))
            raise
        self._broken_reported = False
        return n

    def seal(self, *, force: bool = True) -> Any:
        self.chain()
        cp = seals.seal(self.rt.engine, self.signer, force=force)
        if cp is not None and self.metrics is not None:
            self.metrics.audit_sealed_seq.set(cp.seq)
        return cp

    def purge(self) -> seals.PurgeResult | None:
        days = self.rt.settings.audit_retention_days
        if not days:
            return None
        self.chain()
        result = seals.purge(
            self.rt.engine,
            self.signer,
            older_than=utcnow() - timedelta(days=days),
            mac_key=self.rt.audit_key,
        )
        if result.refused is not None and result.refused.first_bad is not None:
            bad = result.refused.first_bad
            self.monitor.raise_alert(
                Alert("audit_tamper", MONITOR.label, f"purge refused: {bad.reason}"[:200], 1, 0, 0)
            )
        return result

    # --- the background loop -----------------------------------------------------------

    def tick(self) -> None:
        """One round: link, and seal or purge when due (leader only on PostgreSQL)."""
        if not self._is_leader():
            return
        try:
            linked = self.chain(wait=False)
        except chain.ChainBroken:
            return
        s = self.rt.settings
        if s.audit_seal_interval > 0:
            last = seals.latest_seal_at(self.rt.engine)
            if last is None or (utcnow() - last).total_seconds() >= s.audit_seal_interval:
                self.seal(force=False)
        if s.audit_retention_days and time.monotonic() - self._last_purge >= _PURGE_EVERY:
            self._last_purge = time.monotonic()
            self.purge()
        if linked and self.metrics is not None:
            self.metrics.audit_chained.inc(linked)

    def start(self) -> None:
        if self.rt.settings.audit_chain_interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="audit-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self._release()
        self.monitor.close()

    def _run(self) -> None:
        interval = self.rt.settings.audit_chain_interval
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception as exc:  # keep going: the next round retries
                log.error("audit worker round failed: %s", type(exc).__name__)
                self._release()

    def _report_broken(self, why: str) -> None:
        if not self._broken_reported:
            self._broken_reported = True
            self.monitor.raise_alert(Alert("audit_tamper", MONITOR.label, why[:200], 1, 0, 0))

    def _is_leader(self) -> bool:
        if self.rt.engine.dialect.name != "postgresql":
            return True
        if self._leader is not None:
            try:
                self._leader.execute(text("SELECT 1"))
                self._leader.commit()
                return True
            except Exception:
                self._release()
                return False
        conn = self.rt.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
            won = bool(got.scalar())
            conn.commit()
        except Exception:
            conn.invalidate()
            conn.close()
            return False
        if won:
            self._leader = conn
        else:
            conn.close()
        return won

    def _release(self) -> None:
        """Give up leadership. The lock lives in the session: unlock it before the
        connection goes back to the pool, or drop the connection if that fails."""
        conn, self._leader = self._leader, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
            conn.commit()
            conn.close()
        except Exception as exc:
            log.debug("leader connection dropped: %s", type(exc).__name__)
            conn.invalidate()
            conn.close()
