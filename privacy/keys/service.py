"""The service's own keys: created once through Vault, stored only wrapped, unwrapped at start."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

import kms
from privacy.db import new_session
from privacy.keys.models import ServiceKey

BLIND_INDEX_KEY = "blind-index-v1"
TOKEN_SIGNING_KEY = "token-signing-v1"  # noqa: S105 (a key name, not a key)


def load_or_create(
    engine: Engine, transit: kms.TransitClient, *, vault_key: str, name: str
) -> bytes:
    """Return the plaintext of service key `name`, creating it on first use.

    Replicas starting together may race to create it: the loser's insert fails on the
    primary key and it reads the winner's key instead.
    """
    for _ in range(2):
        with new_session(engine) as session:
            row = session.get(ServiceKey, name)
            if row is not None:
                return transit.decrypt_data_key(vault_key, row.wrapped, context=None)
            plaintext, wrapped = transit.generate_data_key(vault_key)
            session.add(ServiceKey(name=name, wrapped=wrapped))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            return plaintext
    raise RuntimeError(f"could not create or load service key {name}")


def rewrap_all(engine: Engine, transit: kms.TransitClient, *, vault_key: str) -> int:
    """Rewrap every service key under the latest version of `vault_key`."""
    with new_session(engine) as session:
        rows = list(session.exec(select(ServiceKey)).all())
        if not rows:
            return 0
        new = transit.rewrap_batch(vault_key, [(r.wrapped, None) for r in rows])
        for row, wrapped in zip(rows, new, strict=True):
            row.wrapped = wrapped
        session.commit()
        return len(rows)
