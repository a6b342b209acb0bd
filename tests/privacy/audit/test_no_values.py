"""No personal data value, password, secret or token ever reaches the audit log, its
exports, its alerts or the logs: write known values, then search everything for them."""

from __future__ import annotations

import logging

from support.api import (
    ADMIN_PASSWORD,
    FULL_APP_SCOPES,
    bearer,
    make_user,
    register_app,
    setup_customers,
)


def test_known_values_appear_nowhere(client, admin, runtime, db, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    setup_customers(client, admin)
    registered = register_app(client, admin, FULL_APP_SCOPES)
    secret = registered["client_secret"]
    token = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered["client_id"],
            "client_secret": secret,
        },
    ).json()["access_token"]
    app = bearer(token)
    values = {
        "name": "Zebediah Quuxworth",
        "email": "zebediah.quux@known-values.example",
        "phone": "+4915199988877",
        "birthday": "1911-11-11",
        "prefs": {"secret_hobby": "ferret-juggling"},
    }
    external = "ext-known-7f3a9"
    sid = client.post(
        "/v1/subjects", headers=app, json={"external_id": external, "email": values["email"]}
    ).json()["id"]
    rid = client.post(
        "/v1/collections/customers/records", headers=app, json={"subject_id": sid, "data": values}
    ).json()["id"]
    client.get(f"/v1/collections/customers/records/{rid}?purpose=support", headers=app)
    client.get(f"/v1/subjects?email={values['email']}", headers=app)
    client.get(f"/v1/subjects?external_id={external}", headers=app)
    client.post(
        "/v1/collections/customers/search?purpose=support",
        headers=app,
        json={"email": values["email"], "phone": values["phone"]},
    )
    client.patch(
        f"/v1/collections/customers/records/{rid}",
        headers=app,
        json={"data": {"name": "Zebediah Renamedworth"}},
    )
    email = make_user(runtime, roles=["auditor"])
    client.post("/v1/auth/login", json={"email": email, "password": "Guess-Known-99!"})
    client.post("/v1/auth/login", json={"email": "nobody-known@example.org", "password": "x"})
    staff = client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
    auditor = bearer(staff.json()["access_token"])
    client.post("/v1/audit/seal", headers=auditor)
    exports = [
        client.get(f"/v1/audit/export?format={f}", headers=auditor).text for f in ("jsonl", "csv")
    ]
    exports.append(client.get("/v1/audit", headers=auditor).text)
    assert client.get("/v1/audit/verify", headers=auditor).json()["ok"]

    dump = "\n".join(
        repr(row)
        for table in ("audit_log", "audit_checkpoints")
        for row in db.rows(f"SELECT * FROM {table}")
    )
    assert "record.update" in dump and "subject.lookup" in dump  # the accesses are there
    # Everything the service logged (not the test client's own request lines).
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx2"))
    assert "audit sealed" in logs
    haystacks = {"tables": dump, "logs": logs, **dict(enumerate(exports))}
    needles = [
        values["name"],
        "Zebediah",
        "Renamedworth",
        values["email"],
        "zebediah.quux",
        values["phone"],
        "15199988877",
        values["birthday"],
        "ferret",
        external,
        email,
        "nobody-known",
        "Guess-Known-99!",
        ADMIN_PASSWORD,
        secret,
        token,
        token.split(".")[2],
        admin["Authorization"].split()[1],
    ]
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"{needle!r} found in {where}"
