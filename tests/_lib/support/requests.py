"""Data-subject requests through the API: file one, have the DPO run it, read a record."""

from __future__ import annotations

from typing import Any

REQUESTS = "/v1/requests"
RECORDS = "/v1/collections/customers/records"


def file(client, headers, sid, type_="access", **extra):  # type: ignore[no-untyped-def]
    return client.post(REQUESTS, headers=headers, json={"subject_id": sid, "type": type_, **extra})


def read(client, app, rid, purpose="support"):  # type: ignore[no-untyped-def]
    return client.get(f"{RECORDS}/{rid}", headers=app, params={"purpose": purpose})


def run_as_dpo(client, dpo, request_id) -> Any:  # type: ignore[no-untyped-def]
    """Verify the requester's identity (ID document) and process the request, as the DPO."""
    url = f"{REQUESTS}/{request_id}"
    r = client.post(url + "/verify-identity", headers=dpo, json={"method": "id_document"})
    assert r.status_code == 200, r.text
    r = client.post(url + "/process", headers=dpo)
    assert r.status_code == 200, r.text
    return r.json()
