"""Fixtures for the consent tests: the customers collection with consent-based and
legal-claims purposes, an app granted them, and a subject with one record."""

from __future__ import annotations

import pytest

from support.api import (
    CONSENT_APP_SCOPES,
    app_headers,
    new_record,
    new_subject,
    setup_consent_purposes,
    setup_customers,
)


@pytest.fixture
def app(client, admin):
    """An app holding every customers scope and the newsletter and legal_claims purposes."""
    setup_customers(client, admin)
    setup_consent_purposes(client, admin)
    return app_headers(client, admin, CONSENT_APP_SCOPES)


@pytest.fixture
def subject(client, app):
    """A subject with one customer record: (subject id, record id)."""
    sid = new_subject(client, app)
    return sid, new_record(client, app, sid)
