"""Erasure is resumable: kill -9 a worker half-way through, restart, and it completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from privacy.db import new_session
from privacy.erasure import tombstones
from privacy.erasure.models import COMPLETED, IN_PROGRESS, Erasure
from privacy.erasure.replay import replay_tombstones
from support.api import count_rows, new_subject
from support.erasure import distinctive, erase

LIB = Path(__file__).resolve().parents[2] / "_lib"
RECORDS = 1000
BATCH = 50


def _many_records(client, headers, sid):  # type: ignore[no-untyped-def]
    for _ in range(RECORDS // 500):
        body = {"records": [{"subject_id": sid, "data": distinctive()} for _ in range(500)]}
        r = client.post("/v1/collections/customers/records:batch", headers=headers, json=body)
        assert r.status_code == 201, r.text


def _worker_env(runtime) -> dict[str, str]:  # type: ignore[no-untyped-def]
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")}
    env.update(
        PYTHONPATH=str(LIB),
        PRIVACY_DATA_DIR=str(s.data_dir),
        PRIVACY_DATABASE_URL=runtime.engine.url.render_as_string(hide_password=False),
        PRIVACY_VAULT_ADDR=s.vault_addr,
        PRIVACY_VAULT_TOKEN=s.vault_token.get_secret_value(),
        PRIVACY_KEK_NAME=s.kek_name,
        PRIVACY_SERVICE_KEY_NAME=s.service_key_name,
        PRIVACY_AUTO_MIGRATE="false",
        PRIVACY_VAULT_TIMEOUT="15",
    )
    return env


def _kill_after(runtime, sid: str, batches: int) -> None:  # type: ignore[no-untyped-def]
    errors = runtime.settings.data_dir / "worker.err"
    with (
        errors.open("w") as err,
        subprocess.Popen(
            [sys.executable, "-m", "support.erasure_worker", sid, str(BATCH)],
            env=_worker_env(runtime),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        killed = False
        for line in proc.stdout:
            if line.strip() == f"batch {batches}":
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
        proc.wait(timeout=60)
    assert killed, f"worker ended before batch {batches}: {errors.read_text()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL


def _state(runtime, sid: str) -> Erasure:  # type: ignore[no-untyped-def]
    with new_session(runtime.engine) as s:
        row = s.get(Erasure, uuid.UUID(sid))
        assert row is not None
        return row


class TestKilledHalfway:
    def test_a_rerun_completes_with_exact_counts(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        _many_records(client, vault_app, sid)
        _kill_after(runtime, sid, batches=4)

        left = count_rows(runtime, "records")
        assert 0 < left <= RECORDS - 4 * BATCH  # killed half-way: some batches committed
        row = _state(runtime, sid)
        assert row.status == IN_PROGRESS
        assert row.counts["records:customers"] == RECORDS - left
        stone = tombstones.read(tombstones.store(runtime), uuid.UUID(sid))
        assert stone is not None and stone["status"] == "pending"

        result = erase(runtime, sid)
        assert result["status"] == COMPLETED
        assert result["erased"] == {"customers": RECORDS}
        assert result["erased_other"]["blind_index"] == 2 * RECORDS
        assert count_rows(runtime, "records") == 0
        assert count_rows(runtime, "subjects") == 0

    def test_the_start_up_replay_finishes_an_interrupted_erasure(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        _many_records(client, vault_app, sid)
        _kill_after(runtime, sid, batches=2)
        assert count_rows(runtime, "records") > 0

        assert replay_tombstones(runtime) == 1
        row = _state(runtime, sid)
        assert row.status == COMPLETED
        assert row.result["erased"] == {"customers": RECORDS}
        assert count_rows(runtime, "records") == 0
        stone = tombstones.read(tombstones.store(runtime), uuid.UUID(sid))
        assert stone["status"] == COMPLETED
        assert replay_tombstones(runtime) == 0
