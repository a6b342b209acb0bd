"""HAZMAT: low-level ciphertext framing; use :class:`kms.FieldCipher` instead.

Stored format of one sealed field value, version 1::

    offset  length  content
    0       1       VERSION, 0x01
    1       12      nonce (random, fresh for every seal)
    13      n + 16  AES-256-GCM ciphertext of the n-byte plaintext, then the 16-byte tag

The shortest valid blob is therefore 29 bytes (empty plaintext). The version
byte is also fed to AES-GCM as part of the associated data (see
:mod:`kms._aead`), so flipping it cannot select another parser silently. A
future format gets a new version byte; parsers reject versions they do not know.
"""

from __future__ import annotations

from kms.errors import DecryptionFailed

VERSION = 0x01
VERSION_BYTE = bytes([VERSION])
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = 1 + NONCE_LEN
MIN_BLOB_LEN = HEADER_LEN + TAG_LEN


def frame(nonce: bytes, ciphertext: bytes) -> bytes:
    """Build a version-1 blob.

    Args:
        nonce: the 12-byte AES-GCM nonce used for ``ciphertext``.
        ciphertext: AES-GCM output (ciphertext followed by the 16-byte tag).

    Returns:
        ``VERSION | nonce | ciphertext``.

    Raises:
        ValueError: the nonce or ciphertext has an impossible length; this is a
            programming error, not bad input data.
    """
    if len(nonce) != NONCE_LEN:
        raise ValueError(f"nonce must be {NONCE_LEN} bytes")
    if len(ciphertext) < TAG_LEN:
        raise ValueError("ciphertext is shorter than the GCM tag")
    return VERSION_BYTE + bytes(nonce) + bytes(ciphertext)


def parse(blob: bytes) -> tuple[bytes, bytes]:
    """Split a blob into ``(nonce, ciphertext_with_tag)`` after checking bounds.

    Args:
        blob: bytes produced by :func:`frame`.

    Returns:
        The nonce and the ciphertext (including the tag).

    Raises:
        DecryptionFailed: the input is not bytes, too short, or carries an
            unknown version. The message never says which.
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionFailed()
    data = bytes(blob)
    # Check length before touching any offset so a short input can't make us
    # slice garbage and hand it to the cipher.
    if len(data) < MIN_BLOB_LEN or data[0] != VERSION:
        raise DecryptionFailed()
    return data[1:HEADER_LEN], data[HEADER_LEN:]
