"""Blind index normalisation and keyed digests."""

from __future__ import annotations

import os

import pytest

from kms import BlindIndexer, normalise


class TestNormalise:
    def test_email_is_stripped_and_lowercased(self) -> None:
        assert normalise("email", "  Alice@Example.COM ") == "alice@example.com"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("+44 (0)20 7946-0958", "+4402079460958"),
            ("020 7946 0958", "02079460958"),
            (" +1-555-0100 ", "+15550100"),
            ("555+0100", "5550100"),
        ],
    )
    def test_phone_keeps_leading_plus_and_digits(self, raw: str, expected: str) -> None:
        assert normalise("phone", raw) == expected

    def test_string_is_nfkc_casefolded_and_whitespace_collapsed(self) -> None:
        # Fullwidth letters (NFKC), sharp s (casefold), tabs and runs of spaces.
        raw = "  Stra\u00dfe   \uff2d\uff55\uff4c\uff4c\uff45r\t "
        assert normalise("string", raw) == "strasse muller"

    def test_other_kinds_are_stripped(self) -> None:
        assert normalise("date", " 2024-01-31 ") == "2024-01-31"

    def test_other_kinds_such_as_ids_are_only_stripped(self) -> None:
        assert normalise("id", " Cust-42 ") == "Cust-42"


class TestDigest:
    def test_digest_is_stable(self) -> None:
        key = os.urandom(32)
        assert BlindIndexer(key).digest("customers.email", "email", "a@x.io") == BlindIndexer(
            key
        ).digest("customers.email", "email", "a@x.io")

    def test_equivalent_inputs_share_a_digest(self) -> None:
        idx = BlindIndexer(os.urandom(32))
        assert idx.digest("c.email", "email", " A@X.io") == idx.digest("c.email", "email", "a@x.io")

    def test_scopes_give_unrelated_digests(self) -> None:
        idx = BlindIndexer(os.urandom(32))
        assert idx.digest("customers.email", "email", "a@x.io") != idx.digest(
            "leads.email", "email", "a@x.io"
        )

    def test_different_keys_give_different_digests(self) -> None:
        assert BlindIndexer(os.urandom(32)).digest("s", "email", "a@x.io") != BlindIndexer(
            os.urandom(32)
        ).digest("s", "email", "a@x.io")

    def test_digest_is_hex_sha256(self) -> None:
        digest = BlindIndexer(os.urandom(32)).digest("s", "string", "x")
        assert len(digest) == 64
        int(digest, 16)

    def test_empty_scope_is_rejected(self) -> None:
        with pytest.raises(ValueError):
            BlindIndexer(os.urandom(32)).digest("", "email", "a@x.io")

    def test_root_key_must_be_32_bytes(self) -> None:
        with pytest.raises(ValueError):
            BlindIndexer(bytes(16))

    def test_repr_hides_key(self) -> None:
        key = b"K" * 32
        idx = BlindIndexer(key)
        assert "KKKK" not in repr(idx)
        assert "KKKK" not in str(idx)
