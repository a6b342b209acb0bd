"""Fixtures for kms tests: a real OpenBao dev server, no mocks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kms import DekCache, KeyRing, TransitClient
from support.openbao import DevServer, OpenBaoUnavailable, start_dev_server


@pytest.fixture(scope="session")
def dev_vault() -> Iterator[DevServer]:
    """One `bao server -dev` for the whole session; skips loudly if impossible."""
    try:
        server = start_dev_server()
    except OpenBaoUnavailable as exc:
        pytest.skip(f"OpenBao unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def transit(dev_vault: DevServer) -> TransitClient:
    client = TransitClient(dev_vault.addr, token=dev_vault.token, timeout=30.0, retries=0)
    client.enable_transit()
    return client


@pytest.fixture
def key_name() -> str:
    """A transit key name no other test uses."""
    return f"test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def keyring(transit: TransitClient, key_name: str) -> KeyRing:
    ring = KeyRing(transit, key_name, DekCache())
    ring.ensure_ready()
    return ring
