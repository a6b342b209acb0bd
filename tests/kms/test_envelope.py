"""Envelope encryption: field_aad, FieldCipher and KeyRing (real OpenBao)."""

from __future__ import annotations

import os
import pickle

import pytest

from kms import DecryptionFailed, DekCache, FieldCipher, KeyRing, KmsError, TransitClient, field_aad


class TestFieldAad:
    def test_encoding_is_unambiguous(self) -> None:
        assert field_aad("ab", "c") != field_aad("a", "bc")
        assert field_aad("a", "") != field_aad("a")
        assert field_aad() != field_aad("")

    def test_encoding_is_deterministic(self) -> None:
        assert field_aad("s1", "customers", "r1", "email") == field_aad(
            "s1", "customers", "r1", "email"
        )

    def test_non_str_parts_are_rejected(self) -> None:
        with pytest.raises(TypeError):
            field_aad("s1", b"customers")  # type: ignore[arg-type]


class TestFieldCipher:
    def test_round_trip(self) -> None:
        cipher = FieldCipher(os.urandom(32))
        aad = field_aad("s1", "customers", "r1", "email")
        assert cipher.open(cipher.seal(b"a@x.io", aad), aad) == b"a@x.io"

    def test_blob_moved_to_another_field_fails_closed(self) -> None:
        cipher = FieldCipher(os.urandom(32))
        blob = cipher.seal(b"a@x.io", field_aad("s1", "customers", "r1", "email"))
        with pytest.raises(DecryptionFailed):
            cipher.open(blob, field_aad("s1", "customers", "r1", "phone"))
        with pytest.raises(DecryptionFailed):
            cipher.open(blob, field_aad("s2", "customers", "r1", "email"))

    def test_tampered_blob_fails_closed(self) -> None:
        cipher = FieldCipher(os.urandom(32))
        blob = bytearray(cipher.seal(b"a@x.io", b"aad"))
        blob[20] ^= 0x80
        with pytest.raises(DecryptionFailed):
            cipher.open(bytes(blob), b"aad")

    def test_repr_hides_key_and_pickling_is_refused(self) -> None:
        dek = b"\x41" * 32
        cipher = FieldCipher(dek)
        assert "AAAA" not in repr(cipher) and "AAAA" not in str(cipher)
        with pytest.raises(TypeError):
            pickle.dumps(cipher)


class TestKeyRing:
    def test_ensure_ready_creates_a_derived_key(self, keyring: KeyRing) -> None:
        info = keyring.transit.key_info(keyring.key_name)
        assert info.derived and not info.exportable

    def test_ensure_ready_refuses_a_non_derived_key(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=False)
        with pytest.raises(KmsError):
            KeyRing(transit, key_name, DekCache()).ensure_ready()

    def test_cache_hit_makes_no_vault_call(self, keyring: KeyRing) -> None:
        wrapped, cipher = keyring.new_key(b"subject-1")
        blob = cipher.seal(b"value", b"aad")
        before = keyring.transit.calls
        for _ in range(100):
            assert keyring.cipher(wrapped, b"subject-1").open(blob, b"aad") == b"value"
        assert keyring.transit.calls == before

    def test_cold_cache_unwraps_once(self, keyring: KeyRing) -> None:
        wrapped, cipher = keyring.new_key(b"subject-1")
        blob = cipher.seal(b"value", b"aad")
        cold = KeyRing(keyring.transit, keyring.key_name, DekCache())
        before = keyring.transit.calls
        cold.cipher(wrapped, b"subject-1")
        assert cold.cipher(wrapped, b"subject-1").open(blob, b"aad") == b"value"
        assert keyring.transit.calls - before == 1

    def test_forget_forces_a_vault_call(self, keyring: KeyRing) -> None:
        wrapped, _ = keyring.new_key(b"subject-1")
        other_wrapped, _ = keyring.new_key(b"subject-2")
        keyring.forget(b"subject-1")
        before = keyring.transit.calls
        keyring.cipher(other_wrapped, b"subject-2")
        assert keyring.transit.calls == before
        keyring.cipher(wrapped, b"subject-1")
        assert keyring.transit.calls - before == 1

    def test_crypto_shredded_subject_cannot_be_read_with_a_new_key(self, keyring: KeyRing) -> None:
        _, cipher = keyring.new_key(b"subject-1")
        aad = field_aad("subject-1", "customers", "r1", "email")
        blob = cipher.seal(b"a@x.io", aad)
        # Erasure: the wrapped DEK is deleted and the cache forgets it.
        keyring.forget(b"subject-1")
        del cipher
        _, fresh = keyring.new_key(b"subject-1")
        with pytest.raises(DecryptionFailed):
            fresh.open(blob, aad)

    def test_wrapped_key_bound_to_its_subject(self, keyring: KeyRing) -> None:
        wrapped_a, _ = keyring.new_key(b"subject-a")
        with pytest.raises(DecryptionFailed):
            keyring.cipher(wrapped_a, b"subject-b")

    def test_rewrap_after_rotation_keeps_data_readable(self, keyring: KeyRing) -> None:
        wrapped, cipher = keyring.new_key(b"subject-1")
        blob = cipher.seal(b"value", b"aad")
        keyring.transit.rotate_key(keyring.key_name)
        (rewrapped,) = keyring.rewrap([(wrapped, b"subject-1")])
        assert rewrapped.startswith("vault:v2:")
        keyring.transit.set_min_decryption_version(keyring.key_name, 2)
        cold = KeyRing(keyring.transit, keyring.key_name, DekCache())
        assert cold.cipher(rewrapped, b"subject-1").open(blob, b"aad") == b"value"
        with pytest.raises(DecryptionFailed):
            cold.cipher(wrapped, b"subject-1")

    def test_empty_context_is_refused(self, keyring: KeyRing) -> None:
        with pytest.raises(ValueError):
            keyring.new_key(b"")
