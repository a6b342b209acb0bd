"""A KEK and service-key rotation also rewraps the keys of unexpired export archives and
apps' webhook secrets, so retiring the old versions leaves none of them unreadable."""

from __future__ import annotations

import io
import zipfile

from sqlmodel import select

from privacy.db import new_session
from privacy.webhooks.models import WebhookSecret


def test_rotation_keeps_exports_downloadable_and_webhook_secrets_usable(
    client, admin, app, me, subject, runtime
):
    sid = subject[0]
    r = client.post("/v1/requests", headers=me, json={"subject_id": sid, "type": "access"})
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    assert r.json()["status"] == "completed", r.text

    app_id = client.get("/v1/apps", headers=admin).json()["items"][0]["id"]
    r = client.post(f"/v1/apps/{app_id}/webhook-secret", headers=admin)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]

    r = client.post("/v1/keys/rotate", headers=admin)
    assert r.status_code == 200, r.text
    st = r.json()
    assert (st["export_keys_pending"], st["webhook_secrets_pending"]) == (0, 0)
    # Both old versions are retired: anything left under them would no longer unwrap.
    assert st["min_decryption_version"] == st["latest_version"] == 2
    assert st["service_key_min_decryption_version"] == st["service_key_latest_version"]

    runtime.dek_cache.clear()
    r = client.get(f"/v1/requests/{request_id}/export", headers=me)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert "manifest.json" in z.namelist()

    with new_session(runtime.engine) as s:
        row = s.exec(select(WebhookSecret)).one()
    assert row.wrapped.startswith(f"vault:v{st['service_key_latest_version']}:")
    raw = runtime.transit.decrypt_data_key(runtime.settings.service_key_name, row.wrapped)
    assert raw and secret  # unwraps under the retired-old-version key
