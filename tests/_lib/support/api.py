"""Helpers to drive the real API in tests: users, apps, tokens, collections."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from privacy.auth.schemas import UserCreate
from privacy.auth.service import create_user
from privacy.db import new_session
from privacy.runtime import Runtime

ADMIN_PASSWORD = "Adm1n!-correct-horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_user(rt: Runtime, *, roles: list[str], email: str | None = None) -> str:
    email = email or f"{roles[0]}-{uuid.uuid4().hex[:6]}@example.org"
    with new_session(rt.engine) as session:
        create_user(
            session, rt, None, data=UserCreate(email=email, password=ADMIN_PASSWORD, roles=roles)
        )
        session.commit()
    return email


def login(client: TestClient, email: str, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    resp = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["access_token"])


def user_headers(client: TestClient, rt: Runtime, *roles: str) -> dict[str, str]:
    return login(client, make_user(rt, roles=list(roles)))


def register_app(
    client: TestClient, admin: dict[str, str], scopes: list[str], name: str | None = None
) -> dict[str, Any]:
    resp = client.post(
        "/v1/apps",
        headers=admin,
        json={"name": name or f"app-{uuid.uuid4().hex[:6]}", "scopes": scopes},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def app_headers(client: TestClient, admin: dict[str, str], scopes: list[str]) -> dict[str, str]:
    app = register_app(client, admin, scopes)
    resp = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["access_token"])


CUSTOMER_FIELDS = [
    {"name": "name", "type": "string", "category": "identity", "required": True},
    {"name": "email", "type": "email", "category": "contact", "searchable": True},
    {"name": "phone", "type": "phone", "category": "contact", "searchable": True},
    {"name": "birthday", "type": "date", "category": "identity"},
    {"name": "score", "type": "number", "category": "profile"},
    {"name": "vip", "type": "boolean", "category": "profile"},
    {"name": "prefs", "type": "json", "category": "profile"},
]

FULL_APP_SCOPES = [
    "subjects:read",
    "subjects:write",
    "collections:read",
    "records:read:customers",
    "records:write:customers",
    "records:delete:customers",
    "purpose:support",
    "purpose:marketing",
]


def setup_customers(client: TestClient, admin: dict[str, str]) -> None:
    r = client.put("/v1/collections/customers", headers=admin, json={"fields": CUSTOMER_FIELDS})
    assert r.status_code in (200, 201), r.text
    r = client.put(
        "/v1/purposes/support",
        headers=admin,
        json={
            "description": "Customer support",
            "legal_basis": "contract",
            "collections": ["customers"],
        },
    )
    assert r.status_code in (200, 201), r.text
    r = client.put(
        "/v1/purposes/marketing",
        headers=admin,
        json={
            "description": "Newsletters",
            "legal_basis": "legitimate_interests",
            "collections": ["customers"],
            "fields": ["name", "email"],
        },
    )
    assert r.status_code in (200, 201), r.text


# --- Subjects, records and database checks (used by tests/privacy/*) ---

SAMPLE_CUSTOMER: dict[str, Any] = {
    "name": "Alice Liddell",
    "email": "Alice@Example.org",
    "phone": "+4915112345678",
    "birthday": "1990-05-04",
    "score": 42.5,
    "vip": True,
    "prefs": {"lang": "de", "topics": ["a", "b"]},
}


def new_subject(
    client: TestClient,
    headers: dict[str, str],
    external_id: str | None = None,
    email: str | None = None,
) -> str:
    body = {"external_id": external_id or f"ext-{uuid.uuid4().hex[:8]}"}
    if email:
        body["email"] = email
    r = client.post("/v1/subjects", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_record(
    client: TestClient,
    headers: dict[str, str],
    subject_id: str,
    data: dict[str, Any] | None = None,
    collection: str = "customers",
) -> str:
    r = client.post(
        f"/v1/collections/{collection}/records",
        headers=headers,
        json={"subject_id": subject_id, "data": SAMPLE_CUSTOMER if data is None else data},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def count_rows(rt: Runtime, table: str) -> int:
    from sqlalchemy import text

    with rt.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def audit_rows(rt: Runtime, **where: Any) -> list[dict[str, Any]]:
    """Audit entries (as dicts, oldest first) whose columns equal every `where` value."""
    from sqlmodel import select

    from privacy.audit.models import AuditEntry

    with new_session(rt.engine) as session:
        query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return [row.model_dump() for row in session.exec(query).all()]


def dump_tables(rt: Runtime, *tables: str) -> str:
    """Every row of `tables` as one string, to search for leaked values."""
    from sqlalchemy import text

    with rt.engine.connect() as conn:
        return "\n".join(
            repr(tuple(row)) for t in tables for row in conn.execute(text(f"SELECT * FROM {t}"))
        )


# --- Consent, restriction and objection (used by tests/privacy/consent) ---

CONSENT_APP_SCOPES = [*FULL_APP_SCOPES, "purpose:newsletter", "purpose:legal_claims"]


def setup_consent_purposes(client: TestClient, admin: dict[str, str]) -> None:
    """`newsletter` (consent; name and email of customers) and `legal_claims` (legal
    obligation; every customer field), beside `support` and `marketing`."""
    purposes = {
        "newsletter": {
            "description": "Newsletter",
            "legal_basis": "consent",
            "collections": ["customers"],
            "fields": ["name", "email"],
        },
        "legal_claims": {
            "description": "Establishing, exercising or defending legal claims",
            "legal_basis": "legal_obligation",
            "collections": ["customers"],
        },
    }
    for pid, body in purposes.items():
        r = client.put(f"/v1/purposes/{pid}", headers=admin, json=body)
        assert r.status_code in (200, 201), r.text


def put_consent(
    client: TestClient,
    headers: dict[str, str],
    subject_id: str,
    purpose: str = "newsletter",
    *,
    granted: bool = True,
    policy_version: str = "2025-01",
    **extra: Any,
) -> Any:
    return client.put(
        f"/v1/subjects/{subject_id}/consents/{purpose}",
        headers=headers,
        json={"granted": granted, "policy_version": policy_version, **extra},
    )
