"""Security events: one Prometheus counter by event, next to their audit entries."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

EVENTS = (
    "login_failed",
    "lockout",
    "refresh_reuse",
    "permission_denied",
    "rate_limited",
    "ip_blocked",
)


def make_counter(registry: Any) -> Counter:
    counter = Counter(
        "privacy_auth_security_events",
        "Failed logins, lock-outs, refresh-token reuse, permission denials, rate-limit hits "
        "and IP blocks.",
        ["event"],
        registry=registry,
    )
    for name in EVENTS:
        counter.labels(name)  # present at 0, so alerts can use increase()
    return counter


def classify(status: int, audit: dict[str, Any] | None) -> str | None:
    """Which security event a refused request was, from its status and audit entry."""
    action = (audit or {}).get("action", "")
    if action.startswith("security."):
        return {
            "security.lockout": "lockout",
            "security.refresh_reuse": "refresh_reuse",
            "security.rate_limit": "rate_limited",
            "security.ip_block": "ip_blocked",
        }.get(action)
    if action in ("auth.login", "auth.token", "auth.refresh") and status == 401:
        return "login_failed"
    if status == 403 and audit is not None:
        return "permission_denied"
    return None


def count(app: Any, event: str | None) -> None:
    counter = getattr(getattr(app, "state", None), "security_events", None)
    if counter is not None and event:
        counter.labels(event).inc()
