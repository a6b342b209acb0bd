from __future__ import annotations

from typing import Any

from privacy.errors import PrivacyError


class TooManyRequests(PrivacyError):
    status, code, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any):
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kw)
        self.extra.setdefault("retry_after", retry_after)
