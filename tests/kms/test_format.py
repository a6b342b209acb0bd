"""Ciphertext framing (kms._format) and raw AEAD (kms._aead)."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from kms import DecryptionFailed, _aead, _format

KEY = bytes(range(32))


class TestFrame:
    def test_round_trip_returns_nonce_and_ciphertext(self) -> None:
        nonce, ct = os.urandom(12), os.urandom(40)
        assert _format.parse(_format.frame(nonce, ct)) == (nonce, ct)

    def test_blob_starts_with_version_byte(self) -> None:
        blob = _format.frame(bytes(12), bytes(16))
        assert blob[0] == 0x01
        assert len(blob) == _format.MIN_BLOB_LEN

    def test_wrong_nonce_length_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError):
            _format.frame(bytes(11), bytes(16))


class TestParse:
    @pytest.mark.parametrize("length", [0, 1, 13, 28])
    def test_truncated_blob_fails_closed(self, length: int) -> None:
        blob = _format.frame(bytes(12), bytes(16))[:length]
        with pytest.raises(DecryptionFailed):
            _format.parse(blob)

    @pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
    def test_unknown_version_fails_closed(self, version: int) -> None:
        blob = bytes([version]) + _format.frame(bytes(12), bytes(16))[1:]
        with pytest.raises(DecryptionFailed):
            _format.parse(blob)

    def test_non_bytes_input_fails_closed(self) -> None:
        with pytest.raises(DecryptionFailed):
            _format.parse("not bytes")  # type: ignore[arg-type]


class TestAead:
    def test_seal_then_open_round_trips(self) -> None:
        blob = _aead.seal(KEY, b"alice@example.com", b"aad")
        assert _aead.open_(KEY, blob, b"aad") == b"alice@example.com"

    def test_each_seal_uses_a_fresh_nonce(self) -> None:
        blobs = {_aead.seal(KEY, b"same", b"aad") for _ in range(50)}
        assert len(blobs) == 50

    def test_ciphertext_does_not_contain_plaintext(self) -> None:
        assert b"alice@example.com" not in _aead.seal(KEY, b"alice@example.com", b"")

    @pytest.mark.parametrize("index", [0, 1, 12, 13, -1])
    def test_tampered_blob_fails_closed(self, index: int) -> None:
        blob = bytearray(_aead.seal(KEY, b"secret", b"aad"))
        blob[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            _aead.open_(KEY, bytes(blob), b"aad")

    def test_wrong_aad_fails_closed(self) -> None:
        blob = _aead.seal(KEY, b"secret", b"subject-1/email")
        with pytest.raises(DecryptionFailed):
            _aead.open_(KEY, blob, b"subject-2/email")

    def test_wrong_key_fails_closed(self) -> None:
        blob = _aead.seal(KEY, b"secret", b"aad")
        with pytest.raises(DecryptionFailed):
            _aead.open_(bytes(32), blob, b"aad")

    def test_version_byte_is_authenticated(self) -> None:
        # Even a parser that accepted another version could not reuse the tag.
        blob = _aead.seal(KEY, b"secret", b"aad")
        nonce, ct = _format.parse(blob)
        aesgcm = _aead.new_aead(KEY)
        with pytest.raises(InvalidTag):
            aesgcm.decrypt(nonce, ct, b"aad")

    def test_failures_share_one_opaque_message(self) -> None:
        blob = _aead.seal(KEY, b"secret", b"aad")
        messages = set()
        for bad_blob, aad in [(blob[:10], b"aad"), (blob, b"other"), (b"\x02" + blob[1:], b"aad")]:
            with pytest.raises(DecryptionFailed) as info:
                _aead.open_(KEY, bad_blob, aad)
            messages.add(str(info.value))
        assert messages == {"decryption failed"}

    def test_short_key_is_rejected(self) -> None:
        with pytest.raises(ValueError):
            _aead.seal(bytes(16), b"x", b"")
