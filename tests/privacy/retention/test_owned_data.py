"""The shipped policies on the service's own data, each with its purger, through the purge
engine on both backends: sessions, revoked tokens, export archives, request records.
Tombstones stay reported as not enforced (Vault KV, which the service may not delete)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from privacy.auth.models import BrowserSession, RefreshToken, RevokedToken, User
from privacy.context import Principal, RequestContext
from privacy.db import new_session, utcnow
from privacy.requests.export import export_dir
from privacy.requests.models import DataSubjectRequest, DsrExport
from privacy.retention import service
from privacy.retention.policy import RetentionConfig, load_retention
from support.api import audit_rows
from support.retention import count

CTX = RequestContext(Principal(kind="system", id="test"))
NOW = utcnow()
DAY = timedelta(days=1)


def shipped(rt, *data):
    policies = tuple(p for p in load_retention(None).policies if p.data in data)
    rt.retention = RetentionConfig(policies=policies, holds=())


def outcome(report, data):
    return next(p for p in report.policies if p.data == data)


def _user(s):
    user = User(email=f"{uuid.uuid4().hex}@example.test", password_hash="x", roles=["admin"])
    s.add(user)
    s.flush()
    return user.id


def test_sessions_go_a_period_after_creation_and_never_while_live(runtime):
    shipped(runtime, "sessions")
    with new_session(runtime.engine) as s:
        uid = _user(s)
        fam = uuid.uuid4()
        for name, created, expires in (
            ("old-ended", NOW - 40 * DAY, NOW - 33 * DAY),
            ("young-ended", NOW - 20 * DAY, NOW - 13 * DAY),
            ("old-live", NOW - 40 * DAY, NOW + DAY),
            ("edge", NOW - 31 * DAY, NOW - 24 * DAY),
        ):
            s.add(
                RefreshToken(
                    token_hash=name,
                    family_id=fam,
                    user_id=uid,
                    created_at=created,
                    expires_at=expires,
                )
            )
            s.add(
                BrowserSession(
                    id_hash=name, user_id=uid, csrf_hash="c", created_at=created, expires_at=expires
                )
            )
        s.commit()
    dry = outcome(service.purge(runtime, CTX, now=NOW, dry_run=True), "sessions")
    assert (dry.matched, dry.enforced) == (4, True)
    assert count(runtime, "SELECT COUNT(*) FROM refresh_tokens") == 4
    got = outcome(service.purge(runtime, CTX, now=NOW), "sessions")
    assert (got.matched, got.purged) == (4, 4)
    for table, key in (("refresh_tokens", "token_hash"), ("browser_sessions", "id_hash")):
        with runtime.engine.connect() as c:
            left = sorted(r[0] for r in c.exec_driver_sql(f"SELECT {key} FROM {table}"))
        assert left == ["old-live", "young-ended"]


def test_revoked_tokens_go_a_day_after_the_token_expired(runtime):
    shipped(runtime, "revoked_tokens")
    with new_session(runtime.engine) as s:
        s.add(RevokedToken(jti="long-expired", expires_at=NOW - 2 * DAY))
        s.add(RevokedToken(jti="just-expired", expires_at=NOW - timedelta(hours=1)))
        s.add(RevokedToken(jti="live", expires_at=NOW + timedelta(minutes=10)))
        s.commit()
    got = outcome(service.purge(runtime, CTX, now=NOW), "revoked_tokens")
    assert (got.matched, got.purged, got.enforced) == (1, 1, True)
    with runtime.engine.connect() as c:
        left = sorted(r[0] for r in c.exec_driver_sql("SELECT jti FROM revoked_tokens"))
    assert left == ["just-expired", "live"]


def _request(s, *, status, received, export=None):
    req = DataSubjectRequest(
        subject_id=uuid.uuid4(),
        type="access",
        status=status,
        filed_by="app:test",
        received_at=received,
        due_at=received + 30 * DAY,
    )
    s.add(req)
    s.flush()
    if export is not None:
        s.add(
            DsrExport(
                request_id=req.id,
                subject_id=req.subject_id,
                file_name=export,
                wrapped_key="vault:v1:wrapped",
                created_at=received,
                expires_at=received + 7 * DAY,
            )
        )
    return req.id


def test_export_archives_lose_file_and_key_after_the_period(runtime):
    shipped(runtime, "export_archives")
    folder = export_dir(runtime.settings)
    with new_session(runtime.engine) as s:
        old = _request(s, status="completed", received=NOW - 8 * DAY, export="old.pvx")
        young = _request(s, status="completed", received=NOW - 2 * DAY, export="young.pvx")
        s.commit()
    for name in ("old.pvx", "young.pvx"):
        (folder / name).write_bytes(b"ciphertext")
    got = outcome(service.purge(runtime, CTX, now=NOW), "export_archives")
    assert (got.matched, got.purged, got.enforced) == (1, 1, True)
    assert not (folder / "old.pvx").exists()
    assert (folder / "young.pvx").exists()
    with new_session(runtime.engine) as s:
        gone, kept = s.get(DsrExport, old), s.get(DsrExport, young)
        assert gone.wrapped_key == "destroyed" and gone.deleted_at is not None
        assert kept.wrapped_key == "vault:v1:wrapped" and kept.deleted_at is None
    assert [e["reason"] for e in audit_rows(runtime, action="request.export_purge")] == [
        f"request:{old}"
    ]
    again = outcome(service.purge(runtime, CTX, now=NOW), "export_archives")
    assert (again.matched, again.purged) == (0, 0)


def test_only_closed_requests_older_than_the_period_go(runtime):
    shipped(runtime, "requests")
    years = 3 * 366 * DAY
    with new_session(runtime.engine) as s:
        done = _request(s, status="completed", received=NOW - years, export="done.pvx")
        rejected = _request(s, status="rejected", received=NOW - years)
        still_open = _request(s, status="in_progress", received=NOW - years)
        recent = _request(s, status="completed", received=NOW - 30 * DAY)
        s.commit()
    got = outcome(service.purge(runtime, CTX, now=NOW), "requests")
    assert (got.matched, got.purged, got.enforced) == (2, 2, True)
    with new_session(runtime.engine) as s:
        left = {r for r in (done, rejected, still_open, recent) if s.get(DataSubjectRequest, r)}
        assert left == {still_open, recent}
        assert s.get(DsrExport, done) is None


def test_tombstones_are_reported_not_enforced(runtime):
    shipped(runtime, "tombstones")
    got = outcome(service.purge(runtime, CTX, now=NOW), "tombstones")
    assert got.enforced is False
