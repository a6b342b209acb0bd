"""`privacy retention purge [--dry-run]` and `privacy retention policies`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy.cli import app as cli
from privacy.config import get_settings
from support.retention import (
    TICKETS_WITH_DISPUTE,
    count,
    seed_tickets_with_dispute,
    subprocess_env,
)


@pytest.fixture
def invoke(runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    policies = tmp_path / "r.toml"
    policies.write_text(TICKETS_WITH_DISPUTE)
    for k, v in subprocess_env(runtime, PRIVACY_RETENTION_FILE=str(policies)).items():
        if k.startswith("PRIVACY_"):
            monkeypatch.setenv(k, v)

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, list(args))
        finally:
            get_settings.cache_clear()

    seed_tickets_with_dispute(runtime)
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
