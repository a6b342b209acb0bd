"""Retention report and Art. 30 record of processing: numbers, formats, API and CLI.

PDFs are read back with pypdf, and a page is rendered to PNG with pdftoppm so that a
person can look at it (the PNGs stay in the test's tmp directory).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from privacy.context import Principal, RequestContext
from privacy.db import new_session, utcnow
from privacy.reports import render, service
from privacy.retention import service as retention
from support.api import register_app, user_headers
from support.retention import (
    add_collection,
    add_purpose,
    add_records,
    add_subject,
    subprocess_env,
    use_policies,
)

POLICIES = """\
[[policy]]
id = "tickets"
description = "Support tickets"
collections = ["tickets"]
period = "P100D"
trigger = "created"
action = "delete"

[[policy]]
id = "sessions"
data = "sessions"
period = "P30D"
trigger = "created"
action = "delete"

[[hold]]
id = "dispute"
categories = ["contact"]
period = "P120D"
ground = "pending dispute <court> & co"
"""


@pytest.fixture
def seeded(runtime):
    rt = runtime
    add_collection(rt, "tickets", {"email": "contact", "body": "content"})
    add_purpose(rt, "support", ["tickets"], basis="contract", retention_policy="tickets")
    use_policies(rt, POLICIES)
    now = utcnow()
    s = add_subject(rt, at=now)
    add_records(rt, "tickets", s, n=4, created=now - timedelta(days=200))  # purged below
    add_records(rt, "tickets", s, n=2, created=now - timedelta(days=110))  # expired, held
    add_records(rt, "tickets", s, n=3, created=now - timedelta(days=80))  # in 20 days
    add_records(rt, "tickets", s, n=5, created=now - timedelta(days=40))  # in 60 days
    add_records(rt, "tickets", s, n=1, created=now - timedelta(days=1))
    retention.purge(rt, RequestContext(Principal(kind="system", id="test")))
    return rt


def _retention(rt):  # type: ignore[no-untyped-def]
    with new_session(rt.engine) as session:
        return service.retention_report(session, rt, now=utcnow(), days=30)


class TestRetentionReport:
    def test_numbers_per_policy(self, seeded):
        report = _retention(seeded)
        tickets = next(p for p in report.policies if p.id == "tickets")
        assert tickets.in_scope == 11
        assert (tickets.expiring_30, tickets.expiring_90) == (3, 8)
        assert (tickets.overdue, tickets.held) == (0, 2)
        assert tickets.held_by == [
            {"hold": "dispute", "ground": "pending dispute <court> & co", "count": 2}
        ]
        assert tickets.purged_in_period == 4
        assert sum(n for _, n in report.purges_by_day) == 4
        sessions = next(p for p in report.policies if p.id == "sessions")
        assert sessions.in_scope is None and sessions.unit == "entries"

    def test_json_and_csv(self, seeded):
        report = _retention(seeded)
        data = json.loads(render.render(report, "json"))
        assert data["policies"][0]["id"] == "tickets"
        assert data["purges_by_day"][-1]["purged"] == 4
        rows = list(csv.DictReader(io.StringIO(render.render(report, "csv").decode())))
        assert rows[0]["policy"] == "tickets"
        assert (rows[0]["held"], rows[0]["purged_in_period"]) == ("2", "4")
        assert "dispute=2" in rows[0]["held_by"]

    def test_pdf_reads_back_and_renders(self, seeded, tmp_path: Path):
        pdf = render.render(_retention(seeded), "pdf")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert "Retention report" in text
        assert "tickets" in text and "dispute" in text
        assert "pending dispute <court> & co" in text, "text from config is escaped, not lost"
        assert "records purged per day (total 4)" in text
        _png(pdf, tmp_path / "retention")


class TestRopa:
    def test_activities_from_purposes_and_collections(self, seeded, client, admin):
        register_app(client, admin, ["purpose:support", "records:read:tickets"], name="helpdesk")
        with new_session(seeded.engine) as session:
            ropa = service.ropa(session, seeded, now=utcnow())
        (a,) = ropa.activities
        assert (a.purpose, a.legal_basis, a.collections) == ("support", "contract", ["tickets"])
        assert a.data_categories == ["contact", "content"]
        assert a.recipients == ["app helpdesk"]
        assert a.retention == ["tickets: delete P100D after created"]
        assert a.holds == ["dispute: P120D (pending dispute <court> & co)"]
        pdf = render.render(ropa, "pdf")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert "Art. 30" in text and "support" in text and "helpdesk" in text
        _png(pdf, Path(seeded.settings.data_dir) / "ropa")


class TestApi:
    def test_dpo_gets_each_format(self, client, seeded):
        dpo = user_headers(client, seeded, "dpo")
        r = client.get("/v1/reports/retention?format=pdf", headers=dpo)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF")
        assert "attachment" in r.headers["content-disposition"]
        r = client.get("/v1/reports/retention?format=json&days=30", headers=dpo)
        assert r.json()["policies"][0]["purged_in_period"] == 4
        r = client.get("/v1/reports/ropa?format=json", headers=dpo)
        assert r.json()["activities"][0]["purpose"] == "support"
        assert client.get("/v1/reports/ropa?format=csv", headers=dpo).status_code == 200

    def test_only_the_dpo(self, client, admin, seeded):
        r = client.get("/v1/reports/retention", headers=admin)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")

    def test_unknown_format_is_422(self, client, seeded):
        dpo = user_headers(client, seeded, "dpo")
        r = client.get("/v1/reports/ropa?format=docx", headers=dpo)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")


def test_cli_writes_a_report(seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from privacy.cli import app as cli
    from privacy.config import get_settings

    policies = tmp_path / "r.toml"
    policies.write_text(POLICIES)
    for k, v in subprocess_env(seeded, PRIVACY_RETENTION_FILE=str(policies)).items():
        if k.startswith("PRIVACY_"):
            monkeypatch.setenv(k, v)
    out = tmp_path / "report.csv"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli, ["report", "retention", "--format", "csv", "-o", str(out), "--days", "30"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["purged_in_period"] == "4"


def test_scheduled_reports_are_written_to_the_data_dir(seeded):
    from jobs.reports import write_all

    written = write_all(seeded)
    assert sorted(p.suffix for p in written) == [".json", ".json", ".pdf", ".pdf"]
    assert all(p.parent == seeded.settings.data_dir / "reports" for p in written)
    assert all(p.stat().st_size > 0 for p in written)


def _png(pdf: bytes, stem: Path) -> None:
    if shutil.which("pdftoppm") is None:
        reason = "pdftoppm (poppler-utils) is not installed: PDF not rendered to PNG"
        if os.environ.get("PRIVACY_TEST_REQUIRE_PDFTOPPM"):
            pytest.fail(reason)
        pytest.skip(reason)
    src = stem.with_suffix(".pdf")
    src.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(src), str(stem)], check=True
    )
    pngs = list(stem.parent.glob(f"{stem.name}*.png"))
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")
