"""Password hashing and the password policy."""

from __future__ import annotations

import base64
import hashlib
import re

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 1024
# A fixed hash to compare against when the account does not exist, so that a login for an
# unknown address costs the same time as one for a known address.
_DUMMY = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds=4))


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes; pre-hashing keeps every character significant for long
    # passphrases and non-ASCII text. Base64 avoids NUL bytes, which bcrypt would stop at.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, *, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, hashed: str | None) -> bool:
    if hashed is None:
        bcrypt.checkpw(_prehash(password), _DUMMY)
        return False
    return bcrypt.checkpw(_prehash(password), hashed.encode())


def policy_violations(password: str) -> list[str]:
    """Names of the unmet rules; empty when the password is acceptable."""
    rules = [
        (len(password) >= MIN_LENGTH, f"at least {MIN_LENGTH} characters"),
        (len(password) <= MAX_LENGTH, f"at most {MAX_LENGTH} characters"),
        (re.search(r"[a-z]", password) is not None, "a lower-case letter"),
        (re.search(r"[A-Z]", password) is not None, "an upper-case letter"),
        (re.search(r"\d", password) is not None, "a digit"),
        (re.search(r"[^A-Za-z0-9]", password) is not None, "a special character"),
    ]
    return [rule for ok, rule in rules if not ok]
