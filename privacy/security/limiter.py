"""Rate limits with the `limits` library: in memory, or in Redis so replicas share them.

Login: failed attempts per account and per client IP (PRIVACY_LOGIN_RATE_LIMIT); an
account or address over the limit is refused before its password is even checked.
API: requests per principal (PRIVACY_API_RATE_LIMIT, or the app's own `rate_limit`).
Every refusal is a violation counted per client IP; enough of them block the IP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from privacy.config import Settings
from privacy.errors import ServiceUnavailable

T = TypeVar("T")


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        uri = settings.redis_url or "memory://"
        # key_prefix keeps our counters apart from anything else in a shared Redis.
        options = {"key_prefix": "privacy-vault"} if settings.redis_url else {}
        self.storage = storage_from_string(uri, **options)
        # Sliding-window counters: O(1) per hit in memory and in Redis, whatever the limit
        # (a moving window keeps one entry per request, which a generous limit makes slow).
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.login = parse(settings.login_rate_limit)
        self.api = parse(settings.api_rate_limit)
        self.violations = RateLimitItemPerSecond(
            settings.ip_block_threshold, settings.ip_block_window
        )
        self._items: dict[str, RateLimitItem] = {}

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:  # redis-py errors: connection, timeout, auth
            if isinstance(exc, ServiceUnavailable):
                raise
            raise ServiceUnavailable(
                "the rate-limit store (Redis) is unavailable; nothing was changed"
            ) from None

    def retry_after(self, item: RateLimitItem, *ids: str) -> int:
        stats = self._call(lambda: self.limiter.get_window_stats(item, *ids))
        return max(1, math.ceil(stats.reset_time - time.time()))

    # --- logins ---
    def login_blocked(self, account: str, ip: str | None) -> int | None:
        """Seconds to wait when the account or the IP has used up its failed logins."""
        for ids in (("login-account", account), ("login-ip", ip or "unknown")):
            if not self._call(lambda ids=ids: self.limiter.test(self.login, *ids)):
                return self.retry_after(self.login, *ids)
        return None

    def login_failed(self, account: str, ip: str | None) -> bool:
        """Count a failed login; True when it used up the account's or IP's allowance."""
        a = self._call(lambda: self.limiter.hit(self.login, "login-account", account))
        b = self._call(lambda: self.limiter.hit(self.login, "login-ip", ip or "unknown"))
        still = self._call(
            lambda: (
                self.limiter.test(self.login, "login-account", account)
                and self.limiter.test(self.login, "login-ip", ip or "unknown")
            )
        )
        return not (a and b and still)

    # --- API ---
    def api_hit(self, principal: str, override: str | None = None) -> int | None:
        """Count a request; seconds to wait when the principal is over its limit."""
        item = self.api
        if override:
            item = self._items.get(override) or self._items.setdefault(override, parse(override))
        if self._call(lambda: self.limiter.hit(item, "api", principal)):
            return None
        return self.retry_after(item, "api", principal)

    def violation(self, ip: str | None) -> bool:
        """Count a refused request from `ip`; True when it should now be blocked."""
        if not ip:
            return False
        # Blocked at the threshold-th violation: after this hit, no allowance is left.
        return not self._call(
            lambda: (
                self.limiter.hit(self.violations, "violations", ip)
                and self.limiter.test(self.violations, "violations", ip)
            )
        )

    def clear_violations(self, ip: str) -> None:
        self._call(lambda: self.limiter.clear(self.violations, "violations", ip))
