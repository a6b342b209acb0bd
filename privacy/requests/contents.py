"""The parts of an export that are not the records themselves: the JSON Schema of
`data.json`, the consent history, the access log, and CSV cell escaping."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from privacy.audit.models import AuditEntry
from privacy.auth.models import App
from privacy.catalog.models import Collection
from privacy.consent import proof, queries
from privacy.consent.models import Objection, Restriction

FORMAT = "privacy-vault-export/1"
BATCH = 500
TYPE_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "pattern": r"^\+[1-9][0-9]{1,14}$"},
    "date": {"type": "string", "format": "date"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "json": {},
}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=str).encode()


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    # Never let a spreadsheet evaluate a cell as a formula (data.json keeps the exact value).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def json_schema(collections: dict[str, Collection]) -> dict[str, Any]:
    def record(c: Collection) -> dict[str, Any]:
        props = {
            f["name"]: {
                **TYPE_SCHEMAS.get(f["type"], {}),
                "description": f"category: {f['category']}",
            }
            for f in c.fields
        }
        return {
            "type": "object",
            "required": ["id", "created_at", "updated_at", "data"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "data": {"type": "object", "properties": props},
            },
        }

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Personal data held about one data subject",
        "type": "object",
        "required": ["format", "request_id", "generated_at", "subject", "collections"],
        "properties": {
            "format": {"const": FORMAT},
            "request_id": {"type": "string", "format": "uuid"},
            "generated_at": {"type": "string", "format": "date-time"},
            "subject": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "external_id": {"type": "string"},
                    "email": {"type": ["string", "null"], "format": "email"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "collections": {
                "type": "object",
                "properties": {
                    name: {"type": "array", "items": record(c)} for name, c in collections.items()
                },
            },
        },
    }


def consent_history(session: Session, subject_id: uuid.UUID) -> dict[str, Any]:
    events = queries.events(session, subject_id)
    restriction = session.get(Restriction, subject_id)
    objections = session.exec(select(Objection).where(Objection.subject_id == subject_id)).all()
    return {
        "events": [{**proof.hashed_fields(e), "hash": e.hash} for e in events],
        "chain_verified": proof.first_break(events) is None,
        "restriction": {
            "restricted": restriction.restricted,
            "ground": restriction.ground,
            "updated_at": proof.rfc3339(restriction.updated_at),
        }
        if restriction
        else {"restricted": False},
        "objections": [
            {
                "purpose": o.purpose,
                "objected": o.objected,
                "updated_at": proof.rfc3339(o.updated_at),
            }
            for o in objections
        ],
    }


def access_log(session: Session, subject_id: uuid.UUID, names: dict[str, str]) -> Iterator[bytes]:
    q = (
        sa_select(AuditEntry)
        .where(AuditEntry.subject_id == str(subject_id))
        .where(col(AuditEntry.action).not_like("security.%"))
        .order_by(col(AuditEntry.id))
        .execution_options(yield_per=BATCH)
    )
    yield b"["
    first = True
    for (e,) in session.execute(q):
        item = {
            "at": proof.rfc3339(e.at),
            "actor": e.actor,
            "actor_name": names.get(e.actor),
            "action": e.action,
            "outcome": e.outcome,
            "purpose": e.purpose,
            "collection": e.collection,
            "record_id": e.record_id,
            "fields": e.fields,
        }
        yield (b"" if first else b",\n") + dumps(item)
        first = False
        session.expunge(e)
    yield b"]"


def app_names(session: Session) -> dict[str, str]:
    return {f"app:{a.client_id}": a.name for a in session.exec(select(App)).all()}
