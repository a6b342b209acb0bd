"""Service keys of the auth domain (password pepper, TOTP sealing key), wrapped by Vault.

Same pattern as the token key (privacy.keys.service): created once through Vault's
datakey, stored only wrapped, unwrapped into process memory. They are loaded when the app
starts (privacy.security.install) so that no request waits on Vault or opens a second
database connection for them; a runtime used without the app loads them on first use.
"""

from __future__ import annotations

from privacy.keys import service as keys_service
from privacy.runtime import Runtime

PASSWORD_PEPPER = "password-pepper-v1"  # noqa: S105 (a key name, not a key)
TOTP_KEY = "totp-seal-v1"


def key(rt: Runtime, name: str) -> bytes:
    cache: dict[str, bytes] = rt.__dict__.setdefault("_auth_keys", {})
    found = cache.get(name)
    if found is None:
        found = keys_service.load_or_create(
            rt.engine, rt.transit, vault_key=rt.settings.service_key_name, name=name
        )
        cache[name] = found
    return found


def prepare(rt: Runtime) -> None:
    for name in (PASSWORD_PEPPER, TOTP_KEY):
        key(rt, name)
