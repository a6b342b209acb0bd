"""KEK rotation: status per version, min_decryption_version raised only when nothing is left
under an older version, and kill -9 in the middle of the rewrap then resume."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

import kms
from privacy.db import new_session
from privacy.keys import rotation
from privacy.subjects.models import Subject
from privacy.subjects.sealing import key_context
from support.api import user_headers
from support.records import new_record, new_subject
from support.retention import count, subprocess_env


def _bare_subjects(rt, n: int) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    """Subjects with real wrapped DEKs (and no records), inserted directly."""
    ids = []
    with new_session(rt.engine) as s:
        for _ in range(n):
            sid = uuid.uuid4()
            wrapped, _ = rt.keyring.new_key(key_context(sid))
            s.add(
                Subject(
                    id=sid,
                    external_id_index=uuid.uuid4().hex,
                    external_id_sealed=b"x",
                    wrapped_dek=wrapped,
                    created_by="test",
                )
            )
            ids.append(sid)
        s.commit()
    return ids


def _many_subjects(rt, n: int) -> None:  # type: ignore[no-untyped-def]
    """n subjects with real wrapped DEKs, made 100 at a time with transit `encrypt` under
    each subject's context: the same `vault:v1:...` that `datakey` stores."""
    s = rt.settings
    with (
        httpx.Client(
            base_url=s.vault_addr,
            headers={"X-Vault-Token": s.vault_token.get_secret_value()},
            trust_env=False,
            timeout=30,
        ) as c,
        new_session(rt.engine) as session,
    ):
        for start in range(0, n, 100):
            ids = [uuid.uuid4() for _ in range(min(100, n - start))]
            batch = [
                {
                    "plaintext": base64.b64encode(os.urandom(32)).decode(),
                    "context": base64.b64encode(key_context(sid)).decode(),
                }
                for sid in ids
            ]
            r = c.post(f"/v1/{s.vault_mount}/encrypt/{s.kek_name}", json={"batch_input": batch})
            r.raise_for_status()
            for sid, res in zip(ids, r.json()["data"]["batch_results"], strict=True):
                session.add(
                    Subject(
                        id=sid,
                        external_id_index=uuid.uuid4().hex,
                        external_id_sealed=b"x",
                        wrapped_dek=res["ciphertext"],
                        created_by="test",
                    )
                )
        session.commit()


def _all_unwrap(rt) -> None:  # type: ignore[no-untyped-def]
    rt.dek_cache.clear()
    with new_session(rt.engine) as s:
        rows = list(s.exec(select(Subject.id, Subject.wrapped_dek)).all())
    for sid, wrapped in rows:
        rt.keyring.cipher(wrapped, key_context(sid))  # raises if it does not unwrap


class TestStatus:
    def test_shows_versions_and_progress(self, client, admin, runtime):
        _bare_subjects(runtime, 4)
        runtime.transit.rotate_key(runtime.settings.kek_name)
        rotation.rewrap_pending(runtime, batch=1, progress=lambda n: None)
        _bare_subjects(runtime, 1)  # a new subject is wrapped under v2 at once
        body = client.get("/v1/keys/status", headers=admin).json()
        assert body["versions"] == {"2": 5}
        assert body["progress"] == 1.0
        runtime.transit.rotate_key(runtime.settings.kek_name)
        body = client.get("/v1/keys/status", headers=admin).json()
        assert body["versions"] == {"2": 5}
        assert (body["latest_version"], body["pending"], body["progress"]) == (3, 5, 0.0)
        assert body["min_decryption_version"] == 1

    def test_status_is_admin_only(self, client, runtime):
        dpo = user_headers(client, runtime, "dpo")
        assert client.get("/v1/keys/status", headers=dpo).status_code == 403


class TestRetireOnlyWhenNothingIsLeft:
    def test_a_dek_that_cannot_be_rewrapped_keeps_the_old_version_usable(self, runtime):
        good = _bare_subjects(runtime, 3)
        # A wrapped DEK that Vault refuses to rewrap (wrong context): it stays pending.
        bad = uuid.uuid4()
        wrapped, _ = runtime.keyring.new_key(key_context(uuid.uuid4()))
        with new_session(runtime.engine) as s:
            s.add(
                Subject(
                    id=bad,
                    external_id_index=uuid.uuid4().hex,
                    external_id_sealed=b"x",
                    wrapped_dek=wrapped,
                    created_by="test",
                )
            )
            s.commit()
        st = rotation.rotate(runtime)
        assert st.pending == 1
        assert st.min_decryption_version == 1, "old version kept while a DEK is left on it"
        with new_session(runtime.engine) as s:
            s.delete(s.get(Subject, bad))
            s.commit()
        st = rotation.finish(runtime)
        assert (st.pending, st.min_decryption_version, st.latest_version) == (0, 2, 2)
        assert st.service_key_min_decryption_version == st.service_key_latest_version == 2
        assert len(good) == st.subjects_total

    def test_old_wrapped_copies_stop_unwrapping_after_retirement(self, runtime):
        (sid,) = _bare_subjects(runtime, 1)
        with new_session(runtime.engine) as s:
            old = s.get(Subject, sid).wrapped_dek
        rotation.rotate(runtime)
        runtime.dek_cache.clear()
        with pytest.raises(kms.KmsError):
            runtime.keyring.cipher(old, key_context(sid))
        _all_unwrap(runtime)


def test_kill_9_mid_rewrap_then_resume(client, vault_app, runtime, tmp_path: Path):
    rt = runtime
    record_ids = [
        new_record(client, vault_app, new_subject(client, vault_app), {"name": "Zed"})
        for _ in range(3)
    ]
    # One DEK per transaction: the rewrap takes long enough to be killed in the middle.
    _many_subjects(rt, 1500)
    total = count(rt, "SELECT COUNT(*) FROM subjects")
    env = subprocess_env(rt, PRIVACY_REWRAP_BATCH_SIZE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "privacy.cli", "keys", "rotate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while count(rt, "SELECT COUNT(*) FROM subjects WHERE wrapped_dek LIKE 'vault:v2:%'") < 5:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else "")[-2000:]
            assert time.monotonic() < deadline, "the rewrap made no progress"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
    st = rotation.status(rt)
    assert 0 < st.pending < total, "killed part-way"
    assert st.min_decryption_version == 1
    _all_unwrap(rt)  # mid-rotation, every DEK is readable under one version or the other
    r = client.get(
        f"/v1/collections/customers/records/{record_ids[0]}?purpose=support", headers=vault_app
    )
    assert r.status_code == 200, "reads go on during the rewrap"

    st = rotation.run(rt, resume=True, started_by="cli")
    assert (st.latest_version, st.pending, st.min_decryption_version) == (2, 0, 2)
    assert st.versions == {2: total}
    _all_unwrap(rt)
    for rid in record_ids:
        r = client.get(
            f"/v1/collections/customers/records/{rid}?purpose=support", headers=vault_app
        )
        assert r.status_code == 200, r.text
    with rt.engine.connect() as conn:
        outcomes = sorted(
            r[0]
            for r in conn.exec_driver_sql("SELECT outcome FROM job_runs WHERE job = 'key-rotation'")
        )
    assert outcomes == ["interrupted", "ok"]
