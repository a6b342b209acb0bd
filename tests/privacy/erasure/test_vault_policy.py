"""deploy/privacy-vault-policy.hcl, loaded into a real OpenBao, lets the service start,
erase and replay, and refuses to let it remove a tombstone or touch anything else."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import kms
from kms.kv import KvStore
from privacy.erasure import tombstones
from privacy.erasure.replay import replay_tombstones, startup
from privacy.runtime import build_runtime
from support.erasure import erase
from support.settings import make_settings

POLICY = Path(__file__).resolve().parents[3] / "deploy" / "privacy-vault-policy.hcl"


@pytest.fixture
def policy_settings(dev_vault, tmp_path):  # type: ignore[no-untyped-def]
    dev_vault.request("PUT", "/v1/sys/policies/acl/privacy-vault", {"policy": POLICY.read_text()})
    token = dev_vault.request(
        "POST", "/v1/auth/token/create", {"policies": ["privacy-vault"], "no_default_policy": True}
    )["auth"]["client_token"]
    # The names the policy grants (the other tests use random key names).
    return make_settings(
        dev_vault,
        tmp_path,
        vault_token=token,
        kek_name="privacy-kek",
        service_key_name="privacy-service",
    )


def _denied(dev_vault, token: str, method: str, path: str) -> bool:  # type: ignore[no-untyped-def]
    import json
    import urllib.request

    req = urllib.request.Request(dev_vault.addr + path, method=method)  # noqa: S310
    req.add_header("X-Vault-Token", token)
    if method in ("POST", "PUT"):
        req.data = json.dumps({"versions": [1]}).encode()
    try:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310
    except urllib.error.HTTPError as exc:
        return exc.code == 403
    return False


class TestPolicy:
    def test_the_service_erases_and_replays_with_exactly_the_policy(
        self, policy_settings, engine, dev_vault
    ):
        from fastapi.testclient import TestClient

        from privacy.app import create_app
        from support.api import (
            FULL_APP_SCOPES,
            app_headers,
            new_record,
            new_subject,
            setup_customers,
            user_headers,
        )

        rt = build_runtime(policy_settings, engine=engine)
        with TestClient(create_app(runtime=rt)) as client:  # start-up replay included
            admin = user_headers(client, rt, "admin")
            setup_customers(client, admin)
            app = app_headers(client, admin, FULL_APP_SCOPES)
            sid = new_subject(client, app)
            new_record(client, app, sid)
            hook = client.post(f"/v1/apps/{uuid.uuid4()}/webhook-secret", headers=admin)
            assert hook.status_code == 404
        result = erase(rt, sid)
        assert result["key_destroyed"]["kek"] == "privacy-kek"
        assert startup(rt) == 0
        assert replay_tombstones(rt) == 0

        token = policy_settings.vault_token.get_secret_value()
        kv_path = f"subjects/{sid}"
        mount = policy_settings.tombstone_mount
        assert tombstones.read(tombstones.store(rt), uuid.UUID(sid))["status"] == "completed"
        for method, path in (
            ("DELETE", f"/v1/{mount}/data/{kv_path}"),
            ("DELETE", f"/v1/{mount}/metadata/{kv_path}"),
            ("POST", f"/v1/{mount}/destroy/{kv_path}"),
            ("POST", f"/v1/{mount}/delete/{kv_path}"),
            ("POST", f"/v1/{mount}/metadata/{kv_path}"),
            ("GET", f"/v1/{mount}/data/elsewhere"),
            ("DELETE", "/v1/transit/keys/privacy-kek"),
            ("GET", "/v1/sys/mounts"),
        ):
            assert _denied(dev_vault, token, method, path), (method, path)
        with pytest.raises(kms.AccessDenied):
            KvStore(rt.transit, mount).write("other/x", {"a": 1})
