"""Access tokens: JWTs signed with a Vault-wrapped service key, verified locally."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

ISSUER = "privacy-vault"
AUDIENCE = "privacy-vault-api"
ALGORITHM = "HS256"


class TokenError(Exception):
    pass


def issue(key: bytes, *, kid: str, sub: str, kind: str, roles: list[str], ttl: int) -> str:
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
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def verify(key: bytes, token: str, *, kid: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != kid:
            raise TokenError("unknown signing key")
        # The algorithm is pinned: a token claiming "none" or another algorithm is refused.
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(type(exc).__name__) from None
