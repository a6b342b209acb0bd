"""HAZMAT: raw AES-256-GCM with nonce handling; use :class:`kms.FieldCipher` instead.

Every seal draws a fresh 96-bit nonce from ``os.urandom``. With random nonces
the usual bound applies: stay well under 2**32 seals per key. One DEK per data
subject keeps each key's message count far below that.

The associated data given to AES-GCM is ``VERSION_BYTE || aad``: the version
byte is fixed-length, so prefixing it keeps the encoding unambiguous and binds
the header to the tag.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms import _format
from kms.errors import DecryptionFailed

KEY_LEN = 32


def new_aead(key: bytes) -> AESGCM:
    """Build an AES-256-GCM primitive, insisting on a 256-bit key.

    Args:
        key: 32 key bytes.

    Returns:
        A reusable :class:`AESGCM` object.

    Raises:
        ValueError: the key is not 32 bytes.
    """
    if len(key) != KEY_LEN:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    return AESGCM(bytes(key))


def seal_with(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """Seal with an existing primitive (avoids re-keying on hot paths)."""
    nonce = os.urandom(_format.NONCE_LEN)
    ct = aead.encrypt(nonce, bytes(plaintext), _format.VERSION_BYTE + bytes(aad))
    return _format.frame(nonce, ct)


def open_with(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    """Open with an existing primitive; see :func:`open_`."""
    nonce, ct = _format.parse(blob)
    try:
        return aead.decrypt(nonce, ct, _format.VERSION_BYTE + bytes(aad))
    except InvalidTag:
        # from None: the cause adds nothing and must not differ per failure.
        raise DecryptionFailed() from None


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` bound to ``aad``.

    Args:
        key: 32-byte AES key.
        plaintext: bytes to protect.
        aad: associated data that must be presented again to open.

    Returns:
        A framed blob (see :mod:`kms._format`).

    Raises:
        ValueError: the key is not 32 bytes.
    """
    return seal_with(new_aead(key), plaintext, aad)


def open_(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Authenticate and decrypt a blob made by :func:`seal`.

    Args:
        key: the 32-byte key used to seal.
        blob: framed ciphertext.
        aad: the associated data used to seal.

    Returns:
        The plaintext.

    Raises:
        DecryptionFailed: anything is wrong (format, version, tag, AAD, key).
        ValueError: the key is not 32 bytes.
    """
    return open_with(new_aead(key), blob, aad)
