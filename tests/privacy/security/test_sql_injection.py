"""SQL-injection strings through every string field, lookup and search of the API: each is
stored and found as the literal text it is, nothing is dropped, nothing answers 500."""

from __future__ import annotations

import pytest

from support.api import ADMIN_PASSWORD, bearer, count_rows, make_user

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE subjects; --",
    '" OR ""="',
    "1; DELETE FROM users WHERE 1=1",
    "x' UNION SELECT password_hash FROM users --",
    "%' AND 1=0 UNION ALL SELECT NULL --",
    "\\'; TRUNCATE audit_log; --",
    "admin'/*",
    "'); INSERT INTO ip_blocks VALUES ('1.2.3.4'); --",
]
TABLES = ("users", "apps", "subjects", "records", "audit_log", "collections", "purposes")


def _counts(runtime):
    return {t: count_rows(runtime, t) for t in TABLES}


@pytest.mark.parametrize("inj", INJECTIONS)
def test_injection_strings_are_plain_data(client, admin, vault_app, runtime, inj):
    before = _counts(runtime)
    q = {"purpose": "support"}
    # Subject external id, then its lookup.
    r = client.post("/v1/subjects", headers=vault_app, json={"external_id": inj})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    found = client.get("/v1/subjects", headers=vault_app, params={"external_id": inj})
    assert [s["id"] for s in found.json()] == [sid]
    none = client.get("/v1/subjects", headers=vault_app, params={"external_id": inj + "x"})
    assert none.json() == []
    # Every string field of a record, then read back, searched and patched.
    data = {"name": inj, "email": "victim@example.org", "phone": "+4915112345678",
            "prefs": {"note": inj, inj: [inj]}}  # fmt: skip
    r = client.post("/v1/collections/customers/records", headers=vault_app,
                    json={"subject_id": sid, "data": data})  # fmt: skip
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    read = client.get(f"/v1/collections/customers/records/{rid}", headers=vault_app, params=q)
    assert read.json()["data"]["name"] == inj and read.json()["data"]["prefs"]["note"] == inj
    hits = client.post("/v1/collections/customers/search", headers=vault_app, params=q,
                       json={"email": "victim@example.org"})  # fmt: skip
    assert rid in [h["id"] for h in hits.json()["items"]]
    miss = client.post("/v1/collections/customers/search", headers=vault_app, params=q,
                       json={"email": inj})  # fmt: skip
    assert miss.status_code in (200, 422) and (
        miss.status_code == 422 or miss.json()["items"] == []
    )
    patched = client.patch(f"/v1/collections/customers/records/{rid}", headers=vault_app,
                           json={"data": {"name": inj + inj}})  # fmt: skip
    assert patched.status_code == 200, patched.text
    # Path and query parameters.
    for path in (f"/v1/collections/{inj}/records", f"/v1/subjects/{inj}"):
        assert client.get(path, headers=vault_app, params=q).status_code in (400, 403, 404, 422)
    assert client.get("/v1/subjects", headers=vault_app, params={"email": inj}).status_code in (
        200, 422)  # fmt: skip
    # Sign-in and admin fields.
    for body in ({"email": inj, "password": inj}, {"email": "a@example.org", "password": inj}):
        assert client.post("/v1/auth/login", json=body).status_code in (401, 422)
    assert client.post("/v1/auth/token", data={"grant_type": "client_credentials",
                                                "client_id": inj, "client_secret": inj}
                       ).status_code == 401  # fmt: skip
    assert client.post("/v1/auth/refresh", json={"refresh_token": inj}).status_code == 401
    r = client.put("/v1/purposes/injected", headers=admin,
                   json={"description": inj, "legal_basis": "contract",
                         "collections": ["customers"]})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    listed = client.get("/v1/purposes", headers=admin).json()["items"]
    assert any(p["description"] == inj for p in listed)
    r = client.post(
        "/v1/users",
        headers=admin,
        json={"email": "inj@example.org", "password": inj + "Aa1!", "roles": ["dpo"]},
    )
    assert r.status_code in (201, 409, 422)
    if r.status_code == 201:
        ok = client.post("/v1/auth/login",
                         json={"email": "inj@example.org", "password": inj + "Aa1!"})  # fmt: skip
        assert ok.status_code == 200
    after = _counts(runtime)
    # Nothing vanished; only what the test itself added.
    assert after["subjects"] == before["subjects"] + 1
    assert after["records"] == before["records"] + 1
    assert after["users"] >= before["users"] and after["apps"] == before["apps"]
    assert after["collections"] == before["collections"]
    assert count_rows(runtime, "ip_blocks") == 0


def test_the_password_itself_may_look_like_sql(client, runtime):
    email = make_user(runtime, roles=["dpo"])
    r = client.post("/v1/auth/login", json={"email": email, "password": "' OR '1'='1"})
    assert r.status_code == 401
    r = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
    assert client.get("/v1/purposes", headers=bearer(r.json()["access_token"])).status_code == 200
