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


def _shipped_table(text: str) -> list[list[str]]:
    section = text.split("### Shipped defaults", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    return rows


def test_data_retention_explains_every_shipped_policy_as_shipped():
    from privacy.retention.policy import load_retention

    shipped = load_retention(None)
    documented = {
        (r[0], r[1], r[2], r[3], r[4])
        for r in _shipped_table((ROOT / "DATA_RETENTION.md").read_text())
    }
    actual = {(p.id, p.data or "", p.period.text, p.trigger, p.action) for p in shipped.policies}
    assert documented == actual
    rows = _shipped_table((ROOT / "DATA_RETENTION.md").read_text())
    assert all(len(r) == 6 and len(r[5]) > 40 for r in rows), "each row says why"


def test_data_retention_says_no_hold_is_shipped_only_when_none_is():
    from privacy.retention.policy import load_retention

    text = (ROOT / "DATA_RETENTION.md").read_text()
    assert ("no legal hold" in text) == (load_retention(None).holds == ())
