"""Factories for retention tests: catalog rows, subjects and records at chosen times.

Records are inserted directly with placeholder ciphertext: the purge never opens values,
and tests that need readable values create them through the API instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import text

from privacy.catalog.models import Collection, Purpose
from privacy.consent.models import ConsentState
from privacy.db import new_session, utcnow
from privacy.retention.policy import parse_retention
from privacy.runtime import Runtime
from privacy.subjects.models import BlindIndexEntry, Record, Subject


def use_policies(rt: Runtime, toml: str) -> None:
    rt.retention = parse_retention(toml, source="test.toml")


def add_collection(rt: Runtime, name: str, fields: dict[str, str]) -> None:
    """fields: name -> category."""
    with new_session(rt.engine) as s:
        s.add(
            Collection(
                name=name,
                fields=[
                    {"name": f, "type": "string", "category": c, "searchable": True}
                    for f, c in fields.items()
                ],
            )
        )
        s.commit()


def add_purpose(
    rt: Runtime,
    pid: str,
    collections: Sequence[str],
    *,
    basis: str = "consent",
    retention_policy: str | None = None,
) -> None:
    with new_session(rt.engine) as s:
        s.add(
            Purpose(
                id=pid,
                description=pid,
                legal_basis=basis,
                collections=list(collections),
                retention_policy=retention_policy,
            )
        )
        s.commit()


def add_subject(rt: Runtime, *, at: datetime) -> uuid.UUID:
    sid = uuid.uuid4()
    with new_session(rt.engine) as s:
        s.add(
            Subject(
                id=sid,
                external_id_index=uuid.uuid4().hex,
                external_id_sealed=b"x",
                wrapped_dek="vault:v1:placeholder",
                created_by="test",
                created_at=at,
                updated_at=at,
            )
        )
        s.commit()
    return sid


def add_records(
    rt: Runtime,
    collection: str,
    subject_id: uuid.UUID,
    *,
    n: int = 1,
    created: datetime,
    updated: datetime | None = None,
    fields: Sequence[str] = ("email",),
) -> list[uuid.UUID]:
    ids = []
    with new_session(rt.engine) as s:
        for _ in range(n):
            rid = uuid.uuid4()
            ids.append(rid)
            s.add(
                Record(
                    id=rid,
                    subject_id=subject_id,
                    collection=collection,
                    sealed={f: "c2VhbGVk" for f in fields},
                    created_by="test",
                    created_at=created,
                    updated_at=updated or created,
                )
            )
            s.flush()
            for f in fields:
                s.add(
                    BlindIndexEntry(
                        collection=collection,
                        field=f,
                        digest=uuid.uuid4().hex,
                        record_id=rid,
                        subject_id=subject_id,
                    )
                )
        s.commit()
    return ids


def set_consent(
    rt: Runtime, subject_id: uuid.UUID, purpose: str, *, granted: bool, at: datetime
) -> None:
    with new_session(rt.engine) as s:
        s.merge(
            ConsentState(
                subject_id=subject_id,
                purpose=purpose,
                granted=granted,
                policy_version="v1",
                event_id=uuid.uuid4(),
                updated_at=at,
            )
        )
        s.commit()


def count(rt: Runtime, sql: str, **params: object) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def subprocess_env(rt: Runtime, **extra: str) -> dict[str, str]:
    """Environment for a `privacy` child process sharing this runtime's database and Vault."""
    import os

    s = rt.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIVACY_")}
    env.update(
        {
            "PRIVACY_DATA_DIR": str(s.data_dir),
            "PRIVACY_DATABASE_URL": rt.engine.url.render_as_string(hide_password=False),
            "PRIVACY_VAULT_ADDR": s.vault_addr or "",
            "PRIVACY_VAULT_TOKEN": s.vault_token.get_secret_value() if s.vault_token else "",
            "PRIVACY_KEK_NAME": s.kek_name,
            "PRIVACY_SERVICE_KEY_NAME": s.service_key_name,
            "PRIVACY_AUTO_MIGRATE": "false",
            "PRIVACY_BCRYPT_ROUNDS": "4",
            "PRIVACY_LOG_LEVEL": "WARNING",
            "PRIVACY_REPORT_SCHEDULE": "",
            "PRIVACY_AUDIT_SEAL_INTERVAL": "0",
            "PRIVACY_AUDIT_CHAIN_INTERVAL": "0",
        }
    )
    env.update(extra)
    return env


def write_policies(path, toml: str) -> str:  # type: ignore[no-untyped-def]
    path.write_text(toml)
    return str(path)


# One delete policy with a shorter-lived hold over it, for the CLI and API tests.
TICKETS_WITH_DISPUTE = """\
[[policy]]
id = "tickets"
collections = ["tickets"]
period = "P30D"
trigger = "created"
action = "delete"

[[hold]]
id = "dispute"
collections = ["tickets"]
period = "P60D"
ground = "pending dispute"
"""


def seed_tickets_with_dispute(rt: Runtime) -> None:
    """TICKETS_WITH_DISPUTE in force; 2 expired records the hold keeps, 3 that go."""
    add_collection(rt, "tickets", {"email": "contact"})
    use_policies(rt, TICKETS_WITH_DISPUTE)
    now = utcnow()
    s = add_subject(rt, at=now)
    add_records(rt, "tickets", s, n=2, created=now - timedelta(days=40))  # held
    add_records(rt, "tickets", s, n=3, created=now - timedelta(days=90))  # goes
