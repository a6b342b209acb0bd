"""`privacy audit verify|seal|export`, run in-process against the test's database and Vault."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from privacy.cli import app
from privacy.config import get_settings


@pytest.fixture
def cli(runtime, monkeypatch, tmp_path):
    s = runtime.settings
    env = {
        "PRIVACY_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False),
        "PRIVACY_DATA_DIR": str(tmp_path),
        "PRIVACY_VAULT_ADDR": s.vault_addr,
        "PRIVACY_VAULT_TOKEN": s.vault_token.get_secret_value(),
        "PRIVACY_KEK_NAME": s.kek_name,
        "PRIVACY_SERVICE_KEY_NAME": s.service_key_name,
        "PRIVACY_AUDIT_SIGNING_KEY": s.audit_signing_key,
        "PRIVACY_AUTO_MIGRATE": "false",
        "PRIVACY_LOG_LEVEL": "WARNING",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # no stray .env
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, ["audit", *args])
    get_settings.cache_clear()


class TestAuditCli:
    def test_verify_passes_on_a_clean_log(self, cli, write):
        write(4)
        assert cli("seal").exit_code == 0
        result = cli("verify")
        assert result.exit_code == 0, result.output
        assert "ok" in result.output and "5 entries" in result.output  # and the seal's entry

    def test_verify_exits_1_naming_the_first_bad_entry(self, cli, write, db):
        ids = write(4)
        assert cli("seal").exit_code == 0
        db.exec("UPDATE audit_log SET record_id = NULL WHERE id = :id", id=ids[2])
        result = cli("verify")
        assert result.exit_code == 1
        assert "TAMPERED" in result.output and f"entry id={ids[2]}" in result.output

    def test_verify_exits_1_on_truncation(self, cli, write, db):
        write(5)
        cli("seal")
        db.exec("DELETE FROM audit_log WHERE seq >= 4")
        result = cli("verify")
        assert result.exit_code == 1 and "truncated" in result.output

    def test_export_writes_jsonl_and_csv(self, cli, write, tmp_path):
        write(3)
        cli("seal")
        out = tmp_path / "log.jsonl"
        assert cli("export", "-o", str(out)).exit_code == 0
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert [x["type"] for x in lines][:1] == ["checkpoint"]
        assert sum(x["type"] == "entry" for x in lines) >= 3
        csv_out = tmp_path / "log.csv"
        assert cli("export", "--format", "csv", "-o", str(csv_out)).exit_code == 0
        assert csv_out.read_text().startswith("seq,id,at,actor")
        assert cli("export", "--format", "xml", "-o", str(csv_out)).exit_code == 2

    def test_cli_actions_are_themselves_logged(self, cli, db):
        cli("seal")
        cli("verify")
        actions = [r[0] for r in db.rows("SELECT action FROM audit_log WHERE actor = 'system:cli'")]
        assert actions == ["audit.seal", "audit.verify"]


class TestSealJob:
    def test_the_job_seals_a_moved_head_once_and_purges_nothing_by_default(self, runtime, write):
        from jobs import audit_seal

        write(3)
        first = audit_seal.run(runtime)
        assert (first.checkpoint, first.sealed_seq, first.purged) == (1, 3, 0)
        assert audit_seal.run(runtime).checkpoint is None  # nothing new: not sealed again
        assert audit_seal.run(runtime, force=True).checkpoint == 2
