"""Prometheus metrics. One registry per app instance, so tests can build many apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "privacy_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "privacy_http_request_duration_seconds",
            "Request latency by route.",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.pii_access = Counter(
            "privacy_pii_access",
            "Accesses to personal data by action and outcome.",
            ["action", "outcome"],
            registry=self.registry,
        )

        self.security_events = Counter(
            "privacy_security_events",
            "Security events raised by the audit monitor, by rule.",
            ["rule"],
            registry=self.registry,
        )
        self.alert_failures = Counter(
            "privacy_security_alert_failures",
            "Security alerts the webhook did not accept.",
            registry=self.registry,
        )
        self.audit_chained = Counter(
            "privacy_audit_entries_chained",
            "Audit entries linked into the hash chain by this process.",
            registry=self.registry,
        )
        # An external witness: alert if it ever decreases (sealed entries deleted).
        self.audit_sealed_seq = Gauge(
            "privacy_audit_sealed_seq",
            "Chain position covered by the latest audit seal made by this process.",
            registry=self.registry,
        )

        # (method, route, status) -> the children to count it in; see `request`.
        self._by_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency. The children are looked up once per
        label set: `labels()` on every request cost more than the counting."""
        key = (method, route, status)
        children = self._by_request.get(key)
        if children is None:
            count = self.requests.labels(method, route, str(status))
            children = self._by_request[key] = (count, self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def watch(self, collect: Callable[[], Iterator[CounterMetricFamily | GaugeMetricFamily]]):
        class _Live(Collector):
            def collect(self):  # type: ignore[override]
                yield from collect()

        self.registry.register(_Live())
