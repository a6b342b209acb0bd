"""Settings are validated at start-up; production refuses unsafe choices."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from privacy.config import Settings


def make(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


class TestProductionRefusals:
    def test_embedded_vault_is_refused_in_production(self, tmp_path):
        with pytest.raises(ValidationError, match="embedded OpenBao"):
            make(
                env="production", data_dir=tmp_path, database_url="postgresql+psycopg://db/privacy"
            )

    def test_plain_http_vault_outside_loopback_is_refused(self):
        with pytest.raises(ValidationError, match="https"):
            make(
                env="production",
                vault_addr="http://vault.internal:8200",
                vault_token="s.0123456789abcdefghijklmnop",
                database_url="postgresql+psycopg://db/privacy",
            )

    def test_dev_token_is_refused(self):
        with pytest.raises(ValidationError, match="dev token"):
            make(
                env="production",
                vault_addr="https://vault.internal:8200",
                vault_token="root",
                database_url="postgresql+psycopg://db/privacy",
            )

    def test_sqlite_in_tmp_is_refused(self):
        with pytest.raises(ValidationError, match="/tmp"):
            make(
                env="production",
                vault_addr="https://vault.internal:8200",
                vault_token="a-long-random-token-value",
                database_url="sqlite:////tmp/x.db",
            )

    def test_sound_production_settings_are_accepted(self):
        s = make(**SOUND)
        assert not s.embedded_vault and not s.is_sqlite and not s.should_migrate
        assert make(**{**SOUND, "smtp_url": "smtp://mail.internal:587?starttls=true"})
        assert make(**{**SOUND, "smtp_url": "smtp://127.0.0.1:25"})  # a local relay

    def test_production_needs_mail_for_subject_sign_in(self):
        with pytest.raises(ValidationError, match="PRIVACY_SMTP_URL is required"):
            make(**{**SOUND, "smtp_url": None})

    def test_production_refuses_mail_in_clear_across_the_network(self):
        with pytest.raises(ValidationError, match="smtps:// or \\?starttls=true"):
            make(**{**SOUND, "smtp_url": "smtp://mail.example.org:25"})


SOUND = {
    "env": "production",
    "vault_addr": "https://vault.internal:8200",
    "vault_role_id": "role",
    "vault_secret_id": "secret",
    "database_url": "postgresql+psycopg://db/privacy",
    "smtp_url": "smtps://vault-mailer:pw@mail.internal:465",
}


class TestGeneralChecks:
    def test_vault_address_without_credentials_is_refused(self):
        with pytest.raises(ValidationError, match="no credentials"):
            make(vault_addr="http://127.0.0.1:8200")

    def test_secrets_do_not_show_in_repr(self):
        s = make(vault_addr="http://127.0.0.1:8200", vault_token="very-secret-token")
        assert "very-secret-token" not in repr(s)

    def test_environment_prefix_is_read(self, monkeypatch, tmp_path):
        monkeypatch.setenv("PRIVACY_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PRIVACY_MAX_BODY_BYTES", "2048")
        s = make()
        assert s.data_dir == tmp_path and s.max_body_bytes == 2048
        assert s.effective_database_url.endswith("/privacy.db") and s.should_migrate
