"""The data-subject request register (GET /v1/reports/requests, privacy report requests):
counts by type and state, on-time rate, median days to close and the overdue list, in
JSON, CSV and PDF (read back with pypdf), with no personal data."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from privacy.db import new_session, utcnow
from privacy.requests.models import DataSubjectRequest
from support.api import audit_rows, user_headers
from support.retention import subprocess_env

NOW = utcnow()
DAY = timedelta(days=1)


def _add(s, rtype, status, *, received, closed_after=None, extended=None):
    req = DataSubjectRequest(
        subject_id=uuid.uuid4(),
        type=rtype,
        status=status,
        filed_by="app:test",
        params={},
        received_at=received,
        due_at=received + 30 * DAY,
        extended_until=extended,
        completed_at=received + closed_after if closed_after is not None else None,
    )
    s.add(req)
    s.flush()
    return req.id


@pytest.fixture
def register(runtime):
    with new_session(runtime.engine) as s:
        ids = {
            "fast": _add(s, "access", "completed", received=NOW - 90 * DAY, closed_after=2 * DAY),
            "late": _add(s, "erasure", "completed", received=NOW - 90 * DAY, closed_after=40 * DAY),
            "rejected": _add(
                s, "access", "rejected", received=NOW - 60 * DAY, closed_after=10 * DAY
            ),
            "overdue": _add(s, "erasure", "in_progress", received=NOW - 45 * DAY),
            "extended": _add(
                s, "portability", "received", received=NOW - 45 * DAY, extended=NOW + 30 * DAY
            ),
            "fresh": _add(s, "access", "received", received=NOW - DAY),
        }
        s.commit()
    return ids


def test_json_counts_rates_and_overdue(client, runtime, register):
    dpo = user_headers(client, runtime, "dpo")
    r = client.get("/v1/reports/requests?format=json", headers=dpo)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 6
    assert body["by_type"] == {
        "access": {"completed": 1, "rejected": 1, "received": 1},
        "erasure": {"completed": 1, "in_progress": 1},
        "portability": {"received": 1},
    }
    assert (body["closed"], body["closed_on_time"]) == (3, 2)
    assert body["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert body["median_days_to_close"] == 10.0
    (late,) = body["overdue"]
    assert (late["id"], late["type"], late["days_late"]) == (
        str(register["overdue"]),
        "erasure",
        15,
    )
    assert "subject_id" not in r.text and "app:test" not in r.text
    assert [e["reason"] for e in audit_rows(runtime, action="report.requests")] == ["format:json"]


def test_pdf_and_csv(client, runtime, register):
    dpo = user_headers(client, runtime, "dpo")
    r = client.get("/v1/reports/requests?format=pdf", headers=dpo)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Data-subject request register" in text
    assert "on-time rate 66.7%" in text
    assert "Median days to close: 10.0" in text
    assert str(register["overdue"]) in text
    assert str(register["fresh"]) not in text
    r = client.get("/v1/reports/requests?format=csv", headers=dpo)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    overdue = [row for row in rows if row["section"] == "overdue"]
    assert [row["id"] for row in overdue] == [str(register["overdue"])]
    counts = {(r["type"], r["status"]): r["count"] for r in rows if r["section"] == "count"}
    assert counts[("access", "completed")] == "1"


def test_empty_register_and_access(client, runtime, admin):
    dpo = user_headers(client, runtime, "dpo")
    body = client.get("/v1/reports/requests?format=json", headers=dpo).json()
    assert (body["total"], body["on_time_rate"], body["median_days_to_close"]) == (0, None, None)
    pdf = client.get("/v1/reports/requests", headers=dpo).content
    assert "None." in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    r = client.get("/v1/reports/requests", headers=admin)
    assert r.status_code == 403
    assert client.get("/v1/reports/requests?format=docx", headers=dpo).status_code == 422


def test_cli_writes_the_register(runtime, register, tmp_path: Path, monkeypatch):
    from privacy.cli import app as cli
    from privacy.config import get_settings

    for k, v in subprocess_env(runtime).items():
        if k.startswith("PRIVACY_"):
            monkeypatch.setenv(k, v)
    out = tmp_path / "register.pdf"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["report", "requests", "--format", "pdf", "-o", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    text = PdfReader(str(out)).pages[0].extract_text()
    assert str(register["overdue"]) in text
