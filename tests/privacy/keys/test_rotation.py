"""KEK rotation: every DEK is rewrapped inside Vault and the data stays readable."""

from __future__ import annotations

import pytest
from sqlmodel import select

from privacy.db import new_session
from privacy.keys import rotation
from privacy.subjects.models import Subject
from support.records import new_record, new_subject


def _wrapped(runtime) -> list[str]:
    with new_session(runtime.engine) as s:
        return [x.wrapped_dek for x in s.exec(select(Subject)).all()]


class TestRotate:
    def test_rotation_rewraps_every_dek_and_records_stay_readable(
        self, client, vault_app, admin, runtime
    ):
        ids = []
        for _ in range(5):
            sid = new_subject(client, vault_app)
            ids.append(new_record(client, vault_app, sid, {"name": "Zed"}))
        assert all(w.startswith("vault:v1:") for w in _wrapped(runtime))

        r = client.post("/v1/keys/rotate", headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["latest_version"] == 2
        assert body["pending"] == 0
        assert body["min_decryption_version"] == 2
        assert all(w.startswith("vault:v2:") for w in _wrapped(runtime))

        runtime.dek_cache.clear()  # force every DEK to be unwrapped again from Vault
        for rid in ids:
            r = client.get(
                f"/v1/collections/customers/records/{rid}?purpose=support", headers=vault_app
            )
            assert r.status_code == 200, r.text
            assert r.json()["data"]["name"] == "Zed"

    def test_interrupted_rewrap_resumes_where_it_stopped(self, client, vault_app, runtime):
        for _ in range(7):
            new_subject(client, vault_app)
        runtime.transit.rotate_key(runtime.settings.kek_name)
        # A first pass that dies after one batch of 3 leaves the rest on the old version.
        seen = []

        def die_after_first(n: int) -> None:
            seen.append(n)
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            rotation.rewrap_pending(runtime, batch=3, progress=die_after_first)
        st = rotation.status(runtime)
        assert (st.subjects_on_latest, st.pending) == (3, 4)
        st = rotation.finish(runtime)
        assert st.pending == 0 and st.min_decryption_version == st.latest_version == 2

    def test_only_admin_may_rotate(self, client, vault_app):
        r = client.post("/v1/keys/rotate", headers=vault_app)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
