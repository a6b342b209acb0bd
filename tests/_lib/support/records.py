"""Small API helpers shared by the tests under tests/privacy."""

from __future__ import annotations

import uuid


def new_subject(client, headers, external_id=None, email=None) -> str:
    body = {"external_id": external_id or f"ext-{uuid.uuid4().hex[:8]}"}
    if email:
        body["email"] = email
    r = client.post("/v1/subjects", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def new_record(client, headers, subject_id, data) -> str:
    r = client.post(
        "/v1/collections/customers/records",
        headers=headers,
        json={"subject_id": subject_id, "data": data},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]
