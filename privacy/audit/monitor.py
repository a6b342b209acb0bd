"""Security monitoring over the audit stream.

The monitor sees every entry once, as the chainer links it (one chainer leads across
replicas), so it counts across replicas without a shared cache. Rules (README, Monitoring):

- `login_failures`: an account with `audit_monitor_login_failures` refused logins within
  `audit_monitor_window` seconds (password guessing).
- `suspicious_ip`: one client IP with `audit_monitor_ip_failures` refused requests of any
  kind (logins included) within the window (credential stuffing, scanning).
- `subjects_ceiling`: a principal reading personal data of more than
  `audit_monitor_subjects_per_minute` distinct subjects within 60 s.
- `subjects_rate`: a principal reading more than `audit_monitor_rate_factor` times its
  usual distinct subjects per minute (an average over the minutes it was seen, after 30 of
  them), and more than 20.
- `audit_tamper`: an entry whose MAC is wrong or missing reached the chainer, or the chain
  is behind its last seal.

Each raises one `security.<rule>` entry (outcome `alert`), a Prometheus count and a webhook
POST, at most once per rule and key per window; with `audit_monitor_suspend`, principals
tripping a subjects rule are suspended (apps and users; the admin can reactivate them).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import select

from privacy.audit import service as audit
from privacy.auth.models import App, User
from privacy.config import Settings
from privacy.context import Principal, RequestContext
from privacy.db import new_session

log = logging.getLogger("privacy.audit.monitor")

MONITOR = Principal(kind="system", id="monitor")
SUBJECT_WINDOW = 60.0
BASELINE_MINUTES = 30
BASELINE_FLOOR = 20
_READS = (".read", ".search", ".lookup", ".export")


@dataclass(frozen=True)
class Alert:
    rule: str
    actor: str
    reason: str
    count: int
    threshold: int
    window: float
    client_ip: str | None = None


def _seconds(at: Any) -> float:
    if isinstance(at, str):
        at = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return float(at.timestamp())


@dataclass
class _Distinct:
    """Distinct subjects per principal: a sliding 60 s window and a per-minute average."""

    seen: deque[tuple[float, str]] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)
    minute: int = -1
    minute_subjects: set[str] = field(default_factory=set)
    minutes: int = 0
    total: int = 0

    def add(self, t: float, subject: str) -> int:
        minute = int(t // 60)
        if minute != self.minute:
            if self.minute >= 0:
                self.minutes += min(minute - self.minute, 60 * 24)
                self.total += len(self.minute_subjects)
            self.minute, self.minute_subjects = minute, set()
        self.minute_subjects.add(subject)
        self.seen.append((t, subject))
        self.counts[subject] += 1
        while self.seen and self.seen[0][0] <= t - SUBJECT_WINDOW:
            _, old = self.seen.popleft()
            self.counts[old] -= 1
            if not self.counts[old]:
                del self.counts[old]
        return len(self.counts)

    @property
    def usual(self) -> float | None:
        return self.total / self.minutes if self.minutes >= BASELINE_MINUTES else None


class Monitor:
    def __init__(self, settings: Settings, engine: Engine, *, metrics: Any = None) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.sender = AlertSender(settings.audit_alert_webhook_url)
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._distinct: dict[str, _Distinct] = {}
        self._alerted: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.sender.close()

    def observe(self, rows: Sequence[Sequence[Any]], bad_macs: list[int]) -> None:
        """Feed linked entries (chain.ROW_COLUMNS order) and the ids whose MAC failed."""
        alerts: list[Alert] = []
        with self._lock:
            for row in rows:
                alerts.extend(self._one(row))
        if bad_macs:
            ids = ", ".join(map(str, bad_macs[:10]))
            alerts.append(
                Alert(
                    "audit_tamper",
                    MONITOR.label,
                    f"entries not written by the service: {ids}",
                    len(bad_macs),
                    0,
                    0.0,
                )
            )
        for alert in alerts:
            self.raise_alert(alert)

    def _one(self, row: Sequence[Any]) -> list[Alert]:
        action, actor, outcome, ip, subject = row[4], row[5], row[11], row[8], row[16]
        if action.startswith("security."):
            return []
        t = _seconds(row[7])
        out: list[Alert | None] = []
        if outcome == "denied":
            out.extend(self._refusals(action, actor, ip, t))
        elif outcome == "ok" and subject and action.endswith(_READS):
            out.extend(self._reads(actor, subject, t, ip))
        return [a for a in out if a is not None]

    def _refusals(self, action: str, actor: str, ip: str | None, t: float) -> list[Alert | None]:
        s, window, out = self.settings, self.settings.audit_monitor_window, []
        if action.startswith("auth.") and not actor.endswith(":anonymous"):
            n, limit = self._count(("account", actor), t), s.audit_monitor_login_failures
            if n >= limit:
                reason = f"{n} refused logins in {window:g} s"
                out.append(
                    self._maybe(Alert("login_failures", actor, reason, n, limit, window, ip), t)
                )
        if ip:
            n, limit = self._count(("ip", ip), t), s.audit_monitor_ip_failures
            if n >= limit:
                reason = f"{n} refused requests in {window:g} s"
                alert = Alert("suspicious_ip", MONITOR.label, reason, n, limit, window, ip)
                out.append(self._maybe(alert, t))
        return out

    def _reads(self, actor: str, subject: str, t: float, ip: str | None) -> list[Alert | None]:
        s = self.settings
        d = self._distinct.setdefault(actor, _Distinct())
        usual = d.usual
        n = d.add(t, subject)
        ceiling = s.audit_monitor_subjects_per_minute
        if n > ceiling:
            reason = f"{n} distinct subjects read in 60 s (ceiling {ceiling})"
            return [self._maybe(Alert("subjects_ceiling", actor, reason, n, ceiling, 60.0, ip), t)]
        factor = s.audit_monitor_rate_factor
        if factor > 0 and usual is not None and n > max(factor * usual, BASELINE_FLOOR):
            limit = int(max(factor * usual, BASELINE_FLOOR))
            reason = f"{n} distinct subjects read in 60 s, usually {usual:.1f} per minute"
            return [self._maybe(Alert("subjects_rate", actor, reason, n, limit, 60.0, ip), t)]
        return []

    def _count(self, key: tuple[str, str], t: float) -> int:
        window = self.settings.audit_monitor_window
        times = self._failures.setdefault(key, deque())
        times.append(t)
        while times and times[0] <= t - window:
            times.popleft()
        if len(self._failures) > 100_000:  # bound memory under a flood of distinct keys
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > t - window}
        return len(times)

    def _maybe(self, alert: Alert, t: float) -> Alert | None:
        key = (alert.rule, alert.client_ip if alert.rule == "suspicious_ip" else alert.actor)
        last = self._alerted.get(key)
        if last is not None and t - last < max(alert.window, 60.0):
            return None
        self._alerted[key] = t
        if len(self._alerted) > 100_000:
            self._alerted = {k: v for k, v in self._alerted.items() if t - v < 3600}
        return alert

    def raise_alert(self, alert: Alert) -> None:
        """Record the security event, count it, suspend if configured, and POST it."""
        suspended = False
        try:
            with new_session(self.engine) as session:
                ctx = RequestContext(_principal(alert.actor), client_ip=alert.client_ip)
                audit.append(
                    session,
                    ctx,
                    action=f"security.{alert.rule}",
                    outcome="alert",
                    reason=alert.reason[:200],
                )
                if self.settings.audit_monitor_suspend and alert.rule.startswith("subjects_"):
                    suspended = suspend(session, alert.actor)
                session.commit()
        except Exception as exc:  # the alert still goes out; the failure is logged
            log.error("could not record security event %s: %s", alert.rule, type(exc).__name__)
        if self.metrics is not None:
            self.metrics.security_events.labels(rule=alert.rule).inc()
        log.warning("security event %s: %s (%s)", alert.rule, alert.actor, alert.reason)
        self.sender.send(
            {
                "event": f"security.{alert.rule}",
                "rule": alert.rule,
                "actor": alert.actor,
                "client_ip": alert.client_ip,
                "count": alert.count,
                "threshold": alert.threshold,
                "window_seconds": alert.window,
                "reason": alert.reason,
                "suspended": suspended,
                "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
            on_failure=self._failed,
        )

    def _failed(self) -> None:
        if self.metrics is not None:
            self.metrics.alert_failures.inc()


def _principal(label: str) -> Principal:
    kind, _, ident = label.partition(":")
    if kind not in ("user", "app", "system"):
        return MONITOR
    return Principal(kind=kind, id=ident)  # type: ignore[arg-type]


def suspend(session: Any, actor: str) -> bool:
    """Deactivate the app or user behind `actor`; its tokens stop working at once."""
    kind, _, ident = actor.partition(":")
    target: Any = None
    if kind == "app":
        target = session.exec(select(App).where(App.client_id == ident)).first()
    elif kind == "user":
        try:
            target = session.get(User, uuid.UUID(ident))
        except ValueError:
            target = None
    if target is None or not target.is_active:
        return False
    target.is_active = False
    ctx = RequestContext(MONITOR)
    audit.append(session, ctx, action="security.suspend", reason=f"suspended {actor}")
    return True


class AlertSender:
    """POSTs alerts to the webhook from one background thread, so that no caller waits."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None

    def send(self, payload: dict[str, Any], *, on_failure: Any = None) -> None:
        if not self.url:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-alerts", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((payload, on_failure))
        except queue.Full:
            log.error("alert queue full: alert dropped")
            if on_failure:
                on_failure()

    def _run(self) -> None:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while (item := self._queue.get()) is not None:
                payload, on_failure = item
                for attempt in range(3):
                    try:
                        client.post(self.url or "", json=payload).raise_for_status()
                        break
                    except httpx.HTTPError as exc:
                        if attempt == 2:
                            log.error("alert webhook failed: %s", type(exc).__name__)
                            if on_failure:
                                on_failure()
                        else:
                            time.sleep(0.5 * (attempt + 1))

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
