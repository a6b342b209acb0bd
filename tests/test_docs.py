"""The README and DATA_RETENTION.md describe the code as it is."""

from __future__ import annotations

import re
from pathlib import Path

from privacy.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(PRIVACY_[A-Z_]+)` \|", readme, flags=re.M))
    declared = {f"PRIVACY_{name.upper()}" for name in Settings.model_fields}
    assert documented == declared


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    command = "pip install -e '.[dev]' && pytest"
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()


def test_data_retention_names_the_cache_limits_the_code_uses():
    text = (ROOT / "DATA_RETENTION.md").read_text()
    s = Settings.model_fields
    assert f"default {int(s['dek_cache_max_age'].default)})" in text
    assert f"default {s['dek_cache_max_uses'].default:,})" in text
    assert f"default {s['dek_cache_max_entries'].default:,})" in text
    assert f"default {s['access_token_ttl'].default})" in text
