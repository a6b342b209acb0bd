"""Fixtures for data-subject request tests: a real SMTP server for subject sign-in, an app
with the consent purposes, a DPO, and a subject (with e-mail) holding one record."""

from __future__ import annotations

import uuid

import pytest

from support.api import (
    CONSENT_APP_SCOPES,
    app_headers,
    new_record,
    new_subject,
    setup_consent_purposes,
    setup_customers,
    user_headers,
)
from support.mailbox import SmtpServer, subject_headers
from support.settings import make_settings


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def settings(dev_vault, tmp_path, smtp):
    return make_settings(dev_vault, tmp_path, smtp_url=smtp.url)


@pytest.fixture
def app(client, admin):
    setup_customers(client, admin)
    setup_consent_purposes(client, admin)
    return app_headers(client, admin, CONSENT_APP_SCOPES)


@pytest.fixture
def dpo(client, runtime):
    return user_headers(client, runtime, "dpo")


@pytest.fixture
def subject(client, app):
    """(subject id, record id, e-mail address)."""
    address = f"subject-{uuid.uuid4().hex[:8]}@example.org"
    sid = new_subject(client, app, email=address)
    return sid, new_record(client, app, sid), address


@pytest.fixture
def me(client, smtp, subject):
    """Headers of the subject, signed in through the API with a mailed code."""
    return subject_headers(client, smtp.mailbox, subject[2])
