"""Password policy (from configuration), peppered bcrypt, and the upgrade of old hashes."""

from __future__ import annotations

import base64
import hashlib

import bcrypt
import pytest
from sqlmodel import select

from privacy.auth import passwords, servicekeys
from privacy.auth.models import User
from privacy.config import Settings
from privacy.db import new_session
from privacy.keys.models import ServiceKey
from support.settings import make_settings

LONG_NON_ASCII = ("Grüße aus Köln, ĳssel & 東京の夜景は綺麗です 9! " * 4)[:128]


def _create(client, admin, password: str, email: str = "pw@example.org"):
    return client.post(
        "/v1/users", headers=admin, json={"email": email, "password": password, "roles": ["dpo"]}
    )


def _login(client, email: str, password: str):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def _stored(runtime, email: str) -> str:
    with new_session(runtime.engine) as s:
        return s.exec(select(User.password_hash).where(User.email == email)).one()


class TestPolicy:
    @pytest.mark.parametrize(
        ("password", "rule"),
        [
            ("Sh0rt!a", "at least 8 characters"),
            ("nocaps-123!", "an upper-case letter"),
            ("NOLOWER-123!", "a lower-case letter"),
            ("No-digits-here!", "a digit"),
            ("NoSpecial123x", "a special character"),
            ("Password1!", "not a common password"),
            ("Dragon2024!!", "not a common password"),
        ],
    )
    def test_each_unmet_rule_is_named(self, password, rule):
        s = Settings(_env_file=None)
        assert passwords.policy_violations(password, s) == [rule]

    def test_api_answers_422_naming_every_unmet_rule(self, client, admin):
        r = _create(client, admin, "qwerty")
        assert r.status_code == 422
        body = r.json()
        assert set(body["unmet_rules"]) == {
            "at least 8 characters",
            "an upper-case letter",
            "a digit",
            "a special character",
            "not a common password",
        }
        assert "qwerty" not in r.text

    def test_rules_come_from_configuration(self, dev_vault, tmp_path):
        strict = make_settings(dev_vault, tmp_path, password_min_length=12)
        assert "at least 12 characters" in passwords.policy_violations("Abcdef-1234", strict)
        relaxed = make_settings(
            dev_vault, tmp_path, password_require_special=False, password_reject_common=False
        )
        assert passwords.policy_violations("Password1", relaxed) == []

    def test_common_list_is_the_maintained_one(self):
        common = passwords.common_passwords()
        assert len(common) >= 10_000 and "123456" in common

    def test_long_and_non_ascii_passphrases_are_accepted(self):
        assert len(LONG_NON_ASCII) == 128
        assert passwords.policy_violations(LONG_NON_ASCII, Settings(_env_file=None)) == []


class TestHashing:
    def test_128_character_non_ascii_passphrase_works_end_to_end(self, client, admin):
        assert _create(client, admin, LONG_NON_ASCII).status_code == 201
        assert _login(client, "pw@example.org", LONG_NON_ASCII).status_code == 200
        # Every character counts: bcrypt's 72-byte limit does not truncate the passphrase.
        assert _login(client, "pw@example.org", LONG_NON_ASCII[:-1] + "X").status_code == 401
        assert _login(client, "pw@example.org", LONG_NON_ASCII[:72]).status_code == 401

    def test_100_character_non_ascii_password(self, client, admin):
        pw = ("Ünïcödé-Pässwörd-ß-9 " * 5)[:100]
        assert len(pw) == 100
        assert _create(client, admin, pw, email="u100@example.org").status_code == 201
        assert _login(client, "u100@example.org", pw).status_code == 200

    def test_stored_as_versioned_peppered_bcrypt(self, client, admin, runtime):
        pw = "Correct-Horse-7!"
        assert _create(client, admin, pw).status_code == 201
        stored = _stored(runtime, "pw@example.org")
        assert stored.startswith("pv2$$2b$04$")  # format v2, cost from settings (tests: 4)
        inner = stored.removeprefix("pv2$").encode()
        # Without the Vault-wrapped pepper the hash cannot be checked: a stolen database
        # alone is no dictionary-attack target.
        unpeppered = base64.b64encode(hashlib.sha256(pw.encode()).digest())
        assert not bcrypt.checkpw(unpeppered, inner)
        assert not passwords.verify_password(pw, stored, pepper=b"\0" * 32)
        pepper = servicekeys.key(runtime, servicekeys.PASSWORD_PEPPER)
        assert passwords.verify_password(pw, stored, pepper=pepper)

    def test_pepper_is_stored_only_wrapped_by_vault(self, client, admin, runtime):
        pepper = servicekeys.key(runtime, servicekeys.PASSWORD_PEPPER)
        with new_session(runtime.engine) as s:
            row = s.get(ServiceKey, servicekeys.PASSWORD_PEPPER)
        assert row is not None and row.wrapped.startswith("vault:")
        assert pepper.hex() not in row.wrapped and base64.b64encode(pepper).decode() not in (
            row.wrapped
        )

    def test_default_cost_is_12(self):
        assert Settings.model_fields["bcrypt_rounds"].default == 12


class TestUpgrade:
    def test_old_sha256_prehash_verifies_and_is_upgraded_at_login(self, client, admin, runtime):
        pw = "Legacy-Pass-42!"
        assert _create(client, admin, pw, email="old@example.org").status_code == 201
        legacy = bcrypt.hashpw(
            base64.b64encode(hashlib.sha256(pw.encode()).digest()), bcrypt.gensalt(4)
        ).decode()
        with new_session(runtime.engine) as s:
            user = s.exec(select(User).where(User.email == "old@example.org")).one()
            user.password_hash = legacy
            s.add(user)
            s.commit()
        assert _login(client, "old@example.org", "Wrong-Pass-42!").status_code == 401
        assert _stored(runtime, "old@example.org") == legacy  # a failed login changes nothing
        assert _login(client, "old@example.org", pw).status_code == 200
        upgraded = _stored(runtime, "old@example.org")
        assert upgraded.startswith("pv2$")
        assert _login(client, "old@example.org", pw).status_code == 200

    def test_a_changed_cost_is_applied_at_the_next_login(self):
        pepper = b"p" * 32
        h = passwords.hash_password("Some-Pass-1!", pepper=pepper, rounds=4)
        assert not passwords.needs_rehash(h, rounds=4)
        assert passwords.needs_rehash(h, rounds=5)
