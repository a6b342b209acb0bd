"""Errors raised by :mod:`kms`.

Callers only ever see these types: no hvac (or requests) exception leaves
:mod:`kms.transit`. The split matters to the service: ``KeyUnavailable`` is a
transient infrastructure problem (HTTP 503, retry later), while
``DecryptionFailed`` means the data itself will never open.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "DecryptionFailed",
    "KeyNotFound",
    "KeyUnavailable",
    "KmsError",
]


class KmsError(Exception):
    """Base class for every key-management error."""


class KeyUnavailable(KmsError):
    """Vault/OpenBao could not be reached or cannot serve keys right now.

    Raised on connection errors, timeouts, a sealed or uninitialised server and
    5xx answers. Callers should map it to HTTP 503.
    """


class KeyNotFound(KmsError):
    """The named transit key does not exist."""


class AccessDenied(KmsError):
    """Vault refused the request (HTTP 403 or an invalid/expired token)."""


class DecryptionFailed(KmsError):
    """A ciphertext or wrapped key could not be opened.

    Deliberately opaque: a tampered blob, wrong associated data, wrong context,
    an unknown format version and a truncated input all raise this same error
    with the same message, so it cannot be used as an oracle.
    """

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)
