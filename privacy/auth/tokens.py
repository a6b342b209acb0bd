"""Access tokens: JWTs (HS256) signed with Vault-wrapped service keys, verified locally.

The header's `kid` names the key; keys rotate (privacy.auth.keyring) and the previous one
keeps verifying, so a rotation logs nobody out. The algorithm is pinned: `none`, RS/ES
tokens and HS tokens signed with anything but our key are refused.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt

ISSUER = "privacy-vault"
AUDIENCE = "privacy-vault-api"
ALGORITHM = "HS256"


class TokenError(Exception):
    pass


def issue(
    key: bytes, *, kid: str, sub: str, kind: str, roles: list[str], ttl: int, **extra: Any
) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "kind": kind,
        "roles": roles,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        **extra,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def verify(
    key: bytes | Callable[[str], bytes | None], token: str, *, kid: str | None = None
) -> dict[str, Any]:
    """Check a token; `key` is one key (then `kid` must match) or a lookup by kid."""
    try:
        header = jwt.get_unverified_header(token)
        token_kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(token_kid, str):
            raise TokenError("algorithm or key id refused")
        found = key(token_kid) if callable(key) else key if token_kid == kid else None
        if found is None:
            raise TokenError("unknown signing key")
        # algorithms=[HS256] pins the algorithm again inside PyJWT.
        return jwt.decode(
            token,
            found,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(type(exc).__name__) from None
