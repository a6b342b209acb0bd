"""Baseline (a): the same stack storing plaintext, with no encryption and no audit.

Run: BENCH_DATABASE=sqlite:///t.db uvicorn bench.plain_app:app
"""

from __future__ import annotations

from typing import Any

from bench.baseline import make_app


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


app = make_app("plaintext baseline", seal=_identity, unseal=_identity)
