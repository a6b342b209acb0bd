"""Subject sign-in tests run against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest

from support.mailbox import SmtpServer
from support.settings import make_settings


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mailbox(smtp):
    return smtp.mailbox


@pytest.fixture
def settings(dev_vault, tmp_path, smtp):
    return make_settings(dev_vault, tmp_path, smtp_url=smtp.url)
