"""Signed receipts: JSON a data subject can keep, signed by a Vault-held ed25519 key.

A signed receipt is `{"receipt": {...}, "key_name": ..., "signature": "vault:vN:<base64>"}`.
The signature is transit `sign` (ed25519, no pre-hashing) over the canonical form of
`receipt` (`privacy.consent.proof.canonical`), so it also verifies offline with the public
key of version N from `GET /v1/keys/public`:

    Ed25519PublicKey.from_public_bytes(b64decode(keys[N])).verify(
        b64decode(signature.split(":", 2)[2]), canonical(receipt))

Every receipt names its `type` (`consent` here); other domains may sign theirs with `sign`.
The key (`PRIVACY_RECEIPT_KEY_NAME`) is created at start-up and never leaves Vault.
"""

from __future__ import annotations

import re
from typing import Any

from privacy.consent.proof import canonical
from privacy.runtime import Runtime

_SIGNATURE = re.compile(r"^vault:v(\d{1,9}):[A-Za-z0-9+/]+={0,2}$")


def sign(rt: Runtime, receipt: dict[str, Any]) -> dict[str, Any]:
    key = rt.settings.receipt_key_name
    return {
        "receipt": receipt,
        "key_name": key,
        "signature": rt.transit.sign(key, canonical(receipt)),
    }


def key_version(signature: str) -> int | None:
    m = _SIGNATURE.match(signature)
    return int(m.group(1)) if m else None


def verify(rt: Runtime, receipt: dict[str, Any], signature: str, key_name: str | None) -> bool:
    """True only if `signature` is the receipt key's signature over exactly `receipt`."""
    if key_name not in (None, rt.settings.receipt_key_name) or key_version(signature) is None:
        return False
    return rt.transit.verify(rt.settings.receipt_key_name, canonical(receipt), signature)


def public_keys(rt: Runtime) -> dict[str, str]:
    """Raw 32-byte ed25519 public keys, base64, by key version."""
    return {str(v): k for v, k in rt.transit.public_keys(rt.settings.receipt_key_name).items()}
