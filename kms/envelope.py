"""Envelope encryption: one DEK per data subject, wrapped by a transit KEK.

* The KEK is a *derived* transit key. Every subject's DEK is wrapped with the
  subject id as transit ``context``, so Vault derives a per-subject wrapping
  key: a wrapped DEK copied to another subject's row does not unwrap. Transit
  ``rewrap`` accepts ``context`` (but not associated data), so rotation still
  happens entirely inside Vault.
* Field values are sealed with AES-256-GCM under the DEK, with associated data
  from :func:`field_aad` binding each ciphertext to its place.
* Unwrapped DEKs are kept in a :class:`~kms.cache.DekCache` so the steady state
  costs no Vault round trip.
* Crypto-shredding: delete the wrapped DEK and call :meth:`KeyRing.forget`.
  Other processes may hold the DEK until their cache entry's ``max_age``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

from kms import _aead
from kms.cache import DekCache
from kms.transit import TransitClient

__all__ = ["FieldCipher", "KeyRing", "field_aad"]

_LEN = struct.Struct(">I")


def field_aad(*parts: str) -> bytes:
    """Encode the location of a value as unambiguous associated data.

    Each part is UTF-8 encoded and prefixed with its 4-byte big-endian length,
    so ``("ab", "c")`` and ``("a", "bc")`` encode differently.

    Args:
        parts: e.g. ``subject_id, collection, record_id, field``.

    Returns:
        The encoded bytes.

    Raises:
        TypeError: a part is not a ``str``.
    """
    out = bytearray()
    for part in parts:
        if not isinstance(part, str):
            raise TypeError("field_aad parts must be str")
        raw = part.encode("utf-8")
        out += _LEN.pack(len(raw))
        out += raw
    return bytes(out)


class FieldCipher:
    """Seals and opens field values under one DEK.

    Args:
        dek: the 32-byte plaintext data key. Only the AES primitive keeps it;
            the cipher never shows it in ``repr`` and refuses to be pickled.

    Raises:
        ValueError: the DEK is not 32 bytes.
    """

    __slots__ = ("_aead",)

    def __init__(self, dek: bytes) -> None:
        self._aead = _aead.new_aead(dek)

    def __repr__(self) -> str:
        return "FieldCipher(dek=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("FieldCipher holds a key and cannot be pickled")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt one value.

        Args:
            plaintext: the value bytes.
            aad: associated data, normally from :func:`field_aad`.

        Returns:
            A versioned blob (format in :mod:`kms._format`).
        """
        return _aead.seal_with(self._aead, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt one value sealed by :meth:`seal`.

        Args:
            blob: the stored ciphertext.
            aad: the same associated data used to seal.

        Returns:
            The plaintext.

        Raises:
            DecryptionFailed: the blob is malformed, tampered, of an unknown
                version, or the AAD or key differs.
        """
        return _aead.open_with(self._aead, blob, aad)


class _CacheKey(NamedTuple):
    key_name: str
    context: bytes
    wrapped: str


class KeyRing:
    """Creates, unwraps, caches and rewraps per-subject DEKs.

    Args:
        transit: the Vault transit client.
        key_name: name of the derived transit KEK.
        cache: where unwrapped DEKs are kept.
    """

    def __init__(self, transit: TransitClient, key_name: str, cache: DekCache) -> None:
        self.transit = transit
        self.key_name = key_name
        self._cache = cache

    def __repr__(self) -> str:
        return f"KeyRing(key_name={self.key_name!r}, transit={self.transit!r})"

    def ensure_ready(self) -> None:
        """Create the KEK if missing and check its settings (call at start-up).

        Raises:
            KmsError: the key exists but is exportable, allows plaintext
                backup, or is not a derived ``aes256-gcm96`` key.
            KeyUnavailable: Vault cannot be reached.
            AccessDenied: the token may not manage the key.
        """
        self.transit.ensure_key(self.key_name, derived=True)

    def new_key(self, context: bytes) -> tuple[str, FieldCipher]:
        """Generate a fresh DEK for a subject.

        Args:
            context: the subject id as bytes; needed again to unwrap.

        Returns:
            ``(wrapped, cipher)``: store ``wrapped``, use ``cipher`` now.

        Raises:
            ValueError: ``context`` is empty.
            KeyUnavailable, AccessDenied, KeyNotFound: from transit.
        """
        _check_context(context)
        dek, wrapped = self.transit.generate_data_key(self.key_name, context=context)
        self._cache.put(_CacheKey(self.key_name, bytes(context), wrapped), dek)
        return wrapped, FieldCipher(dek)

    def cipher(self, wrapped: str, context: bytes) -> FieldCipher:
        """Return a cipher for a stored DEK, from the cache when possible.

        Args:
            wrapped: the stored ``vault:vN:...`` wrapped DEK.
            context: the subject id bytes it was wrapped with.

        Returns:
            A :class:`FieldCipher` for that DEK.

        Raises:
            ValueError: ``context`` is empty.
            DecryptionFailed: the wrapped DEK does not open with this context.
            KeyUnavailable, AccessDenied, KeyNotFound: from transit.
        """
        _check_context(context)
        key = _CacheKey(self.key_name, bytes(context), wrapped)
        dek = self._cache.get(key)
        if dek is None:
            dek = self.transit.decrypt_data_key(self.key_name, wrapped, context=context)
            self._cache.put(key, dek)
        return FieldCipher(dek)

    def forget(self, context: bytes) -> None:
        """Evict every cached DEK of one subject (crypto-shredding, local part).

        Args:
            context: the subject id bytes.
        """
        ctx = bytes(context)
        self._cache.evict(
            lambda k: isinstance(k, _CacheKey) and k.key_name == self.key_name and k.context == ctx
        )

    def rewrap(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        """Rewrap DEKs under the KEK's latest version, inside Vault.

        Args:
            items: ``(wrapped, context)`` pairs.

        Returns:
            The rewrapped DEKs, in input order.

        Raises:
            DecryptionFailed: any item failed to unwrap (the batch is rejected).
            KeyUnavailable, AccessDenied, KeyNotFound: from transit.
        """
        return self.transit.rewrap_batch(self.key_name, items)


def _check_context(context: bytes) -> None:
    # A derived key cannot work without context, and an empty one would make
    # every subject share a wrapping key: refuse it before calling Vault.
    if not context:
        raise ValueError("a non-empty subject context is required")
