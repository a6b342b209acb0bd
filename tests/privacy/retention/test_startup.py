"""A bad retention file stops the service at start; a good one is what the runtime holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy.cli import app as cli
from privacy.config import Settings
from privacy.retention.policy import RetentionFileError
from privacy.runtime import build_runtime

BAD = '[[policy]]\nid = "x"\ncollections = ["c"]\nperiod = "two years"\n'
BAD += 'trigger = "created"\naction = "delete"\n'


def test_build_runtime_refuses_a_bad_file_before_connecting(tmp_path: Path):
    bad = tmp_path / "retention.toml"
    bad.write_text(BAD)
    # No Vault is reachable at this address: the file is checked before anything else.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        vault_addr="http://127.0.0.1:9",
        vault_token="t" * 20,
        retention_file=bad,
    )
    with pytest.raises(RetentionFileError) as info:
        build_runtime(settings)
    assert info.value.line == 4
    assert str(bad) in str(info.value)


def test_runtime_holds_the_configured_file(runtime, tmp_path: Path):
    assert runtime.retention.policies, "the shipped defaults by default"
    assert runtime.retention.source.startswith("<shipped")


def test_cli_serve_stops_with_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bad = tmp_path / "retention.toml"
    bad.write_text(BAD)
    monkeypatch.setenv("PRIVACY_RETENTION_FILE", str(bad))
    monkeypatch.setenv("PRIVACY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PRIVACY_VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("PRIVACY_VAULT_TOKEN", "t" * 20)
    from privacy.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["retention", "policies"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert f"{bad}:4" in result.output
