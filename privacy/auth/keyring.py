"""Token-signing keys by kid: `token-signing-vN` service keys, wrapped by Vault.

The newest key signs; it and the one before verify, so rotating (`privacy keys
rotate-token-key` or POST /v1/keys/token-signing/rotate) logs nobody out: tokens signed
with the previous key live out their 15 minutes. Older keys stop verifying.
Replicas pick up a new key within RELOAD_SECONDS, or at once when they see its kid.
"""

from __future__ import annotations

import re
import threading
import time

from sqlalchemy import Engine
from sqlmodel import Session, select

import kms
from privacy.keys import service as keys_service
from privacy.keys.models import ServiceKey
from privacy.runtime import Runtime

PREFIX = "token-signing-v"
_KID = re.compile(r"^token-signing-v([1-9][0-9]{0,5})$")
RELOAD_SECONDS = 60.0
UNKNOWN_KID_RELOAD_SECONDS = 5.0


def _version(kid: str) -> int:
    m = _KID.match(kid)
    return int(m.group(1)) if m else 0


class TokenKeys:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        # Seeded with the key the runtime unwrapped at start-up (v1).
        self._plain: dict[str, bytes] = {keys_service.TOKEN_SIGNING_KEY: rt.token_key}
        self._accepted: list[str] = [keys_service.TOKEN_SIGNING_KEY]
        self._loaded_at = 0.0

    def _reload(self, session: Session) -> None:
        names = [
            n
            for n in session.exec(
                select(ServiceKey.name).where(ServiceKey.name.like(PREFIX + "%"))  # type: ignore[attr-defined]
            ).all()
            if _version(n)
        ]
        names.sort(key=_version, reverse=True)
        accepted = names[:2] or [keys_service.TOKEN_SIGNING_KEY]
        for name in accepted:
            if name not in self._plain:
                row = session.get(ServiceKey, name)
                if row is not None:
                    self._plain[name] = self.rt.transit.decrypt_data_key(
                        self.rt.settings.service_key_name, row.wrapped, context=None
                    )
        with self._lock:
            self._accepted = [n for n in accepted if n in self._plain]
            self._loaded_at = time.monotonic()

    def signing(self, session: Session) -> tuple[str, bytes]:
        if time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self._reload(session)
        kid = self._accepted[0]
        return kid, self._plain[kid]

    def verifying(self, session: Session, kid: str) -> bytes | None:
        # Once a minute at most, re-read which keys are current: a rotation elsewhere
        # retires the oldest key here too.
        if time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self._reload(session)
        if kid in self._accepted:
            return self._plain[kid]
        # A kid we do not accept yet may be a key another replica just made; anything not
        # shaped like one of ours is refused without touching the database.
        if _version(kid) and time.monotonic() - self._loaded_at > UNKNOWN_KID_RELOAD_SECONDS:
            self._reload(session)
            if kid in self._accepted:
                return self._plain[kid]
        return None

    def reload(self, session: Session) -> None:
        self._reload(session)


def for_runtime(rt: Runtime) -> TokenKeys:
    # Kept on the runtime (one per running service) without widening the Runtime class.
    keys: TokenKeys | None = rt.__dict__.get("_token_keys")
    if keys is None:
        keys = rt.__dict__.setdefault("_token_keys", TokenKeys(rt))
    return keys


def rotate(engine: Engine, transit: kms.TransitClient, *, vault_key: str) -> str:
    """Create the next token-signing key; returns its kid."""
    with Session(engine) as session:
        names = session.exec(
            select(ServiceKey.name).where(ServiceKey.name.like(PREFIX + "%"))  # type: ignore[attr-defined]
        ).all()
    latest = max((_version(n) for n in names), default=1)
    kid = f"{PREFIX}{latest + 1}"
    keys_service.load_or_create(engine, transit, vault_key=vault_key, name=kid)
    return kid
