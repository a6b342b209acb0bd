"""Password hashing and the password policy.

Stored format (versioned):
  `pv2$<bcrypt>`: bcrypt over base64(HMAC-SHA256(pepper, password)); the pepper is a
      Vault-wrapped service key, so a stolen database alone cannot be brute-forced.
  `$2b$...` (no prefix, v1): bcrypt over base64(SHA-256(password)); still verified, and
      replaced by v2 at the next successful login.
Pre-hashing keeps every character significant (bcrypt reads at most 72 bytes) and base64
keeps NUL bytes out (bcrypt would stop at one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

import bcrypt

from privacy.config import Settings

MAX_LENGTH = 1024
V2 = "pv2$"
# A fixed hash to compare against when the account does not exist, so that a login for an
# unknown address costs the same time as one for a known address.
_DUMMY = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds=4))


def _prehash_v1(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def _prehash_v2(password: str, pepper: bytes) -> bytes:
    return base64.b64encode(hmac.digest(pepper, password.encode("utf-8"), "sha256"))


def hash_password(password: str, *, pepper: bytes, rounds: int) -> str:
    return V2 + bcrypt.hashpw(_prehash_v2(password, pepper), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str | None, *, pepper: bytes) -> bool:
    if hashed is None:
        bcrypt.checkpw(_prehash_v2(password, pepper), _DUMMY)
        return False
    if hashed.startswith(V2):
        return bcrypt.checkpw(_prehash_v2(password, pepper), hashed[len(V2) :].encode())
    return bcrypt.checkpw(_prehash_v1(password), hashed.encode())


def needs_rehash(hashed: str, *, rounds: int) -> bool:
    """True for the old format or another bcrypt cost than the configured one."""
    if not hashed.startswith(V2):
        return True
    try:
        return int(hashed[len(V2) :].split("$")[2]) != rounds
    except (IndexError, ValueError):
        return True


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most used passwords of public breach corpora, lower-cased.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    lowered = password.lower()
    # "Password1!" is "password" dressed up to pass the character rules.
    core = re.sub(r"^[^a-z]+|[^a-z]+$", "", lowered)
    common = common_passwords()
    return lowered in common or (len(core) >= 4 and core in common)


def policy_violations(password: str, settings: Settings) -> list[str]:
    """Names of the unmet rules; empty when the password is acceptable."""
    s = settings
    rules = [
        (len(password) >= s.password_min_length, f"at least {s.password_min_length} characters"),
        (len(password) <= MAX_LENGTH, f"at most {MAX_LENGTH} characters"),
        (not s.password_require_lower or _has(password, str.islower), "a lower-case letter"),
        (not s.password_require_upper or _has(password, str.isupper), "an upper-case letter"),
        (not s.password_require_digit or _has(password, str.isdigit), "a digit"),
        (
            not s.password_require_special or _has(password, lambda c: not c.isalnum()),
            "a special character",
        ),
        (not s.password_reject_common or not is_common(password), "not a common password"),
    ]
    return [rule for ok, rule in rules if not ok]


def _has(password: str, test) -> bool:  # type: ignore[no-untyped-def]
    # Unicode-aware: "É" is upper-case and "٣" a digit, so passphrases in any script count.
    return any(test(c) for c in password)
