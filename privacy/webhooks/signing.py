"""The webhook signature scheme (documented for app developers in the README).

Each POST carries:
    X-Privacy-Event      e.g. `subject.erased`
    X-Privacy-Delivery   the delivery id (the same on every retry: use it to de-duplicate)
    X-Privacy-Timestamp  Unix time in seconds when this attempt was signed
    X-Privacy-Signature  `v1=` + hex HMAC-SHA256(secret, timestamp + "." + raw body)

`secret` is the app's signing secret exactly as shown once by
`POST /v1/apps/{app_id}/webhook-secret` (a `whsec_...` string, used as UTF-8 bytes).
A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses
timestamps more than five minutes away from its clock (so a captured request cannot be
replayed later).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def secret_text(raw: bytes) -> str:
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str, now: float) -> bool:
    """What a receiving app does (also used by the tests, against real deliveries)."""
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)
