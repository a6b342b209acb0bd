"""The first README command, end to end: `privacy serve` on the embedded default (SQLite
plus its own OpenBao), data written, the service stopped and started again, data still
readable. Real processes, real ports on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.openbao import free_port

PASSWORD = "Embedded-Adm1n!"


def _privacy_bin() -> str:
    # The interpreter's own script first: another `privacy` on PATH may be an older install.
    sibling = Path(sys.executable).parent / "privacy"
    found = str(sibling) if sibling.exists() else (shutil.which("privacy") or str(sibling))
    if not Path(found).exists():
        pytest.skip("the privacy console script is not installed (pip install -e .)")
    return found


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [_privacy_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"privacy serve exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"privacy serve did not become ready:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _bao_running(data_dir: Path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return str(data_dir / "openbao") in out


def test_embedded_service_keeps_data_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")},
        "PRIVACY_DATA_DIR": str(data_dir),
        "PRIVACY_EMBEDDED_VAULT_PORT": str(free_port()),
        "PRIVACY_BCRYPT_ROUNDS": "4",
        # The admin signs in with a password alone here (MFA is tested in tests/privacy/auth).
        "PRIVACY_MFA_REQUIRED_ROLES": "",
    }
    made = subprocess.run(
        [_privacy_bin(), "create-admin", "--email", "root@example.org"],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stdout + made.stderr

    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start(env, port, log)
    try:
        with httpx.Client(base_url=base, timeout=10) as c:
            tok = c.post(
                "/v1/auth/login", json={"email": "root@example.org", "password": PASSWORD}
            ).json()
            admin = {"Authorization": f"Bearer {tok['access_token']}"}
            assert (
                c.put(
                    "/v1/collections/people",
                    headers=admin,
                    json={"fields": [{"name": "name", "type": "string", "category": "identity"}]},
                ).status_code
                == 201
            )
            assert (
                c.put(
                    "/v1/purposes/care",
                    headers=admin,
                    json={
                        "description": "care",
                        "legal_basis": "contract",
                        "collections": ["people"],
                    },
                ).status_code
                == 201
            )
            app = c.post(
                "/v1/apps",
                headers=admin,
                json={
                    "name": "e2e",
                    "scopes": [
                        "subjects:write",
                        "records:write:people",
                        "records:read:people",
                        "purpose:care",
                    ],
                },
            ).json()
            creds = {
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            }
            tok = c.post("/v1/auth/token", data=creds).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            sid = c.post("/v1/subjects", headers=h, json={"external_id": "u-1"}).json()["id"]
            rid = c.post(
                "/v1/collections/people/records",
                headers=h,
                json={"subject_id": sid, "data": {"name": "Grace Hopper"}},
            ).json()["id"]
        # A CLI command shares the running service's OpenBao instead of failing on its port.
        rotated = subprocess.run(
            [_privacy_bin(), "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "v2" in rotated.stderr
    finally:
        _stop(proc)
    assert not _bao_running(data_dir), "the embedded OpenBao outlived the service"
    init = data_dir / "openbao" / "init.json"
    assert init.stat().st_mode & 0o777 == 0o600
    assert b"Grace Hopper" not in (data_dir / "privacy.db").read_bytes()

    proc = _start(env, port, log)
    try:
        with httpx.Client(base_url=base, timeout=10) as c:
            tok = c.post("/v1/auth/token", data=creds).json()
            h = {"Authorization": f"Bearer {tok['access_token']}"}
            r = c.get(f"/v1/collections/people/records/{rid}?purpose=care", headers=h)
            assert r.status_code == 200, r.text
            assert r.json()["data"] == {"name": "Grace Hopper"}
    finally:
        _stop(proc)
    assert PASSWORD not in log.read_text()
