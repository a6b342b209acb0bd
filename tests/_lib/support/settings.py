"""Settings for a test runtime pointed at a real OpenBao dev server."""

from __future__ import annotations

import uuid
from pathlib import Path

from privacy.config import Settings
from support.openbao import DevServer


def make_settings(vault: DevServer, tmp_path: Path, **overrides: object) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "vault_addr": vault.addr,
        "vault_token": vault.token,
        "kek_name": f"kek-{suffix}",
        "service_key_name": f"svc-{suffix}",
        "bcrypt_rounds": 4,
        "auto_migrate": False,
        "vault_timeout": 15.0,  # generous: a busy CI machine is slow, not broken
        "vault_retries": 0,
        # Most tests sign admins in with a password alone; tests/privacy/auth/test_mfa.py
        # turns the requirement (default admin,dpo) back on.
        "mfa_required_roles": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
