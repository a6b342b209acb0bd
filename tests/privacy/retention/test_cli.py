"""`privacy retention purge [--dry-run]` and `privacy retention policies`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy.cli import app as cli
from privacy.config import get_settings
from privacy.db import utcnow
from support.retention import (
    add_collection,
    add_records,
    add_subject,
    count,
    subprocess_env,
    use_policies,
)

POLICIES = """\
[[policy]]
id = "tickets"
collections = ["tickets"]
period = "P30D"
trigger = "created"
action = "delete"

[[hold]]
id = "dispute"
collections = ["tickets"]
period = "P60D"
ground = "pending dispute"
"""


@pytest.fixture
def invoke(runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    policies = tmp_path / "r.toml"
    policies.write_text(POLICIES)
    for k, v in subprocess_env(runtime, PRIVACY_RETENTION_FILE=str(policies)).items():
        if k.startswith("PRIVACY_"):
            monkeypatch.setenv(k, v)

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, list(args))
        finally:
            get_settings.cache_clear()

    add_collection(runtime, "tickets", {"email": "contact"})
    use_policies(runtime, POLICIES)
    now = utcnow()
    s = add_subject(runtime, at=now)
    add_records(runtime, "tickets", s, n=2, created=now - timedelta(days=40))  # held
    add_records(runtime, "tickets", s, n=3, created=now - timedelta(days=90))  # goes
    return run


def test_dry_run_prints_what_would_go_and_changes_nothing(invoke, runtime):
    result = invoke("retention", "purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would purge" in result.output
    assert "dispute (2: pending dispute)" in result.output
    assert count(runtime, "SELECT COUNT(*) FROM records") == 5


def test_purge_purges_and_reports(invoke, runtime):
    result = invoke("retention", "purge")
    assert result.exit_code == 0, result.output
    assert count(runtime, "SELECT COUNT(*) FROM records") == 2
    assert count(runtime, "SELECT COUNT(*) FROM job_runs WHERE started_by = 'cli'") == 1


def test_policies_lists_the_file(invoke):
    result = invoke("retention", "policies")
    assert result.exit_code == 0, result.output
    assert "tickets" in result.output and "pending dispute" in result.output
