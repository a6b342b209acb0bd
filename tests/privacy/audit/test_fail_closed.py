"""The access and its audit entry commit together: no entry, no access."""

from __future__ import annotations

from sqlalchemy import text

from support.records import new_record, new_subject


def _count(runtime, table: str) -> int:
    with runtime.engine.connect() as c:
        return c.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


class TestFailClosed:
    def test_write_fails_and_leaves_nothing_when_the_audit_row_cannot_be_written(
        self, client, vault_app, runtime
    ):
        sid = new_subject(client, vault_app)
        with runtime.engine.begin() as c:
            c.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
        try:
            r = client.post(
                "/v1/collections/customers/records",
                headers=vault_app,
                json={"subject_id": sid, "data": {"name": "Never Stored"}},
            )
        finally:
            with runtime.engine.begin() as c:
                c.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in r.text and "audit_log" not in r.text
        assert _count(runtime, "records") == 0

    def test_read_is_refused_when_the_audit_row_cannot_be_written(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid, {"name": "Secret Name"})
        with runtime.engine.begin() as c:
            c.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
        try:
            r = client.get(
                f"/v1/collections/customers/records/{rid}?purpose=support", headers=vault_app
            )
        finally:
            with runtime.engine.begin() as c:
                c.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
        assert r.status_code == 503
        assert "Secret Name" not in r.text

    def test_every_access_leaves_one_entry_with_names_only(self, client, vault_app, runtime):
        sid = new_subject(client, vault_app)
        rid = new_record(client, vault_app, sid, {"name": "Named Person"})
        client.get(
            f"/v1/collections/customers/records/{rid}?purpose=support&fields=name",
            headers=vault_app,
        )
        with runtime.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT action, outcome, fields, purpose FROM audit_log "
                    "WHERE record_id = :r ORDER BY id"
                ),
                {"r": rid},
            ).all()
        assert [(a, o) for a, o, _, _ in rows] == [("record.create", "ok"), ("record.read", "ok")]
        assert rows[1][3] == "support" and "name" in str(rows[1][2])
        assert "Named Person" not in str(rows)
