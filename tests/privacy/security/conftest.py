"""An app built with the settings a test needs, answering as if behind a trusted proxy."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from privacy.app import create_app

PROXY = "127.0.0.1"


@pytest.fixture
def make_client(runtime) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    opened: list[TestClient] = []

    def make(*, peer: str = PROXY, base_url: str = "http://testserver", **overrides: Any):
        overrides.setdefault("trusted_proxies", PROXY)
        settings = runtime.settings.model_copy(update=overrides)
        rt = dataclasses.replace(runtime, settings=settings)
        client = TestClient(
            create_app(runtime=rt),
            raise_server_exceptions=False,
            client=(peer, 50000),
            base_url=base_url,
        )
        client.__enter__()
        opened.append(client)
        return client, rt

    yield make
    for client in opened:
        client.__exit__(None, None, None)
