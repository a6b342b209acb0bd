"""Without PRIVACY_SMTP_URL, in development, mail lands as .eml files in the outbox."""

from __future__ import annotations

import email
import stat

import pytest

from support.api import FULL_APP_SCOPES, app_headers, new_subject, setup_customers
from support.settings import make_settings


@pytest.fixture
def settings(dev_vault, tmp_path):
    """No SMTP server configured (this folder's conftest sets one)."""
    return make_settings(dev_vault, tmp_path)


def test_development_mail_goes_to_the_outbox(client, admin, runtime, settings):
    assert settings.smtp_url is None and settings.env == "development"
    setup_customers(client, admin)
    app = app_headers(client, admin, FULL_APP_SCOPES)
    address = "outbox@example.org"
    new_subject(client, app, email=address)
    assert client.post("/v1/subject-auth/start", json={"email": address}).status_code == 202
    (eml,) = (settings.data_dir / "outbox").glob("*.eml")
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    msg = email.message_from_bytes(eml.read_bytes())
    assert msg["To"] == address
    code = msg.get_payload(decode=True).decode().split("code is ")[1][:6]
    r = client.post("/v1/subject-auth/verify", json={"email": address, "code": code})
    assert r.status_code == 200, r.text
