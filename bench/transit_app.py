"""Baseline (b): an app that calls Vault transit once per field, the way many apps do it.

Each write sends one `transit/encrypt` per field value and stores the `vault:v1:...`
ciphertexts; each read sends one `transit/decrypt` per field. No batching, no data keys.
Each server thread keeps its own keep-alive connection to Vault.

Run: BENCH_DATABASE=... BENCH_VAULT_ADDR=http://127.0.0.1:8200 BENCH_VAULT_TOKEN=...
     uvicorn bench.transit_app:app
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

import httpx

from bench.baseline import make_app

KEY = "bench-per-field"
_local = threading.local()
_calls = 0
_calls_lock = threading.Lock()


def _vault() -> httpx.Client:
    client = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(
            base_url=os.environ["BENCH_VAULT_ADDR"],
            headers={"X-Vault-Token": os.environ["BENCH_VAULT_TOKEN"]},
            timeout=10.0,
            trust_env=False,
        )
        _local.client = client
    return client


def _post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    global _calls
    with _calls_lock:
        _calls += 1
    resp = _vault().post(path, json=body)
    resp.raise_for_status()
    return resp.json() if resp.content else {}


def _create_key() -> None:
    _post(f"/v1/transit/keys/{KEY}", {"type": "aes256-gcm96"})


def _encrypt(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in data.items():
        plaintext = base64.b64encode(json.dumps(value).encode()).decode()
        out[name] = _post(f"/v1/transit/encrypt/{KEY}", {"plaintext": plaintext})["data"][
            "ciphertext"
        ]
    return out


def _decrypt(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, ciphertext in data.items():
        plaintext = _post(f"/v1/transit/decrypt/{KEY}", {"ciphertext": ciphertext})["data"][
            "plaintext"
        ]
        out[name] = json.loads(base64.b64decode(plaintext))
    return out


app = make_app("transit-per-field baseline", seal=_encrypt, unseal=_decrypt, setup=_create_key)


@app.get("/bench/vault-calls")
async def vault_calls() -> dict[str, int]:
    """Transit calls made so far, for the benchmark's calls-per-request column."""
    with _calls_lock:
        return {"calls": _calls}
