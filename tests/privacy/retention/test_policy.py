"""The retention policy file: parsing, validation errors that name the line, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from privacy.retention.policy import (
    FOREVER,
    Period,
    RetentionFileError,
    load_retention,
    parse_retention,
)

GOOD = """\
[[policy]]
id = "support-tickets"
collections = ["tickets"]
period = "P2Y"
trigger = "created"
action = "delete"

[[policy]]
id = "marketing"
purposes = ["newsletter"]
categories = ["contact"]
period = "P6M"
trigger = "consent_withdrawn"
action = "anonymise"
fields = ["email", "phone"]

[[hold]]
id = "invoices-tax-law"
collections = ["invoices"]
period = "P10Y"
ground = "legal obligation: commercial and tax law"

[[hold]]
id = "litigation"
categories = ["financial"]
ground = "pending lawsuit"
"""


class TestParse:
    def test_reads_policies_and_holds_as_written(self):
        cfg = parse_retention(GOOD)
        assert [p.id for p in cfg.policies] == ["support-tickets", "marketing"]
        marketing = cfg.policy("marketing")
        assert marketing is not None
        assert marketing.purposes == ("newsletter",)
        assert marketing.categories == ("contact",)
        assert marketing.fields == ("email", "phone")
        assert marketing.period.text == "P6M"
        assert [h.id for h in cfg.holds] == ["invoices-tax-law", "litigation"]

    def test_hold_without_period_lasts_forever(self):
        hold = parse_retention(GOOD).hold("litigation")
        assert hold is not None
        assert hold.until(datetime(2020, 1, 1, tzinfo=UTC)) == FOREVER

    def test_shipped_defaults_load(self):
        cfg = load_retention(None)
        assert cfg.policies, "the shipped file has policies"
        assert {p.data for p in cfg.policies} >= {"sessions", "requests", "tombstones"}

    def test_a_file_path_is_read(self, tmp_path: Path):
        f = tmp_path / "r.toml"
        f.write_text(GOOD)
        assert load_retention(f).source == str(f)


def _error(text: str) -> RetentionFileError:
    with pytest.raises(RetentionFileError) as info:
        parse_retention(text, source="r.toml")
    return info.value


class TestErrorsNameTheLine:
    def test_bad_period_names_its_line(self):
        err = _error(GOOD.replace('period = "P6M"', 'period = "6 months"'))
        assert err.line == 12
        assert "r.toml:12" in str(err)
        assert "ISO 8601" in str(err)
        assert "marketing" in str(err)

    def test_unknown_trigger(self):
        err = _error(GOOD.replace('trigger = "created"', 'trigger = "deleted"'))
        assert err.line == 5
        assert "trigger must be one of" in err.problem

    def test_unknown_action(self):
        err = _error(GOOD.replace('action = "delete"', 'action = "shred"'))
        assert err.line == 6

    def test_toml_syntax_error_names_the_line(self):
        err = _error(GOOD.replace('id = "marketing"', 'id = "marketing'))
        assert err.line == 9
        assert "not valid TOML" in err.problem

    def test_duplicate_id(self):
        err = _error(GOOD.replace('id = "marketing"', 'id = "support-tickets"'))
        assert err.line == 9
        assert "used twice" in err.problem

    def test_missing_key_names_the_table_header(self):
        err = _error(GOOD.replace('period = "P2Y"\n', ""))
        assert err.line == 1
        assert "missing required key 'period'" in err.problem

    def test_unknown_key(self):
        err = _error(GOOD.replace('period = "P2Y"', 'period = "P2Y"\nperiood = "P1Y"'))
        assert err.line == 5
        assert "unknown key 'periood'" in err.problem

    def test_anonymise_needs_fields(self):
        err = _error(GOOD.replace('fields = ["email", "phone"]\n', ""))
        assert "needs fields" in err.problem

    def test_fields_only_with_anonymise(self):
        err = _error(GOOD.replace('action = "delete"', 'action = "delete"\nfields = ["x"]'))
        assert err.line == 7

    def test_policy_without_scope(self):
        err = _error(GOOD.replace('collections = ["tickets"]\n', ""))
        assert err.line == 1
        assert "name what it covers" in err.problem

    def test_hold_needs_a_ground(self):
        err = _error(GOOD.replace('ground = "pending lawsuit"\n', ""))
        assert err.line == 23
        assert "ground" in err.problem

    def test_unknown_top_level_table(self):
        err = _error(GOOD + "\n[[polcy]]\nid = 'x'\n")
        assert err.line == 28
        assert "polcy" in err.problem

    def test_bad_id(self):
        err = _error(GOOD.replace('id = "marketing"', 'id = "Marketing Emails"'))
        assert err.line == 9

    def test_list_of_strings(self):
        err = _error(GOOD.replace('collections = ["tickets"]', 'collections = "tickets"'))
        assert err.line == 3

    def test_service_data_takes_no_scope(self):
        text = '[[policy]]\nid = "s"\ndata = "sessions"\ncollections = ["x"]\nperiod = "P1D"\n'
        text += 'trigger = "created"\naction = "delete"\n'
        assert _error(text).line == 3

    def test_unknown_service_data(self):
        text = '[[policy]]\nid = "s"\ndata = "cookies"\nperiod = "P1D"\n'
        text += 'trigger = "created"\naction = "delete"\n'
        assert "data must be one of" in _error(text).problem

    def test_unreadable_file(self, tmp_path: Path):
        with pytest.raises(RetentionFileError, match="cannot be read"):
            load_retention(tmp_path / "missing.toml")


class TestPeriod:
    @pytest.mark.parametrize("text", ["P", "PT", "P1.5Y", "1Y", "P-1D", "P0D", "PT0S", "P1H"])
    def test_rejects(self, text: str):
        with pytest.raises(ValueError):
            Period.parse(text)

    def test_seconds_are_allowed(self):
        start = datetime(2026, 1, 1, tzinfo=UTC)
        assert Period.parse("PT5S").after(start) == start + timedelta(seconds=5)

    def test_months_are_calendar_months(self):
        assert Period.parse("P1M").after(datetime(2024, 1, 31, tzinfo=UTC)) == datetime(
            2024, 2, 29, tzinfo=UTC
        )

    def test_years_from_a_leap_day(self):
        assert Period.parse("P1Y").after(datetime(2024, 2, 29, 12, tzinfo=UTC)) == datetime(
            2025, 2, 28, 12, tzinfo=UTC
        )

    def test_combined(self):
        start = datetime(2026, 1, 1, tzinfo=UTC)
        assert Period.parse("P1Y2M3DT4H5M6S").after(start) == datetime(
            2027, 3, 4, 4, 5, 6, tzinfo=UTC
        )

    def test_day_across_dst_is_24_hours(self):
        # 2026-03-29 is when Berlin moves its clocks forward: a day is still 24 h of UTC.
        berlin = ZoneInfo("Europe/Berlin")
        start = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)
        end = Period.parse("P1D").after(start)
        assert end.tzinfo == UTC
        assert end - start == timedelta(hours=24)

    def test_naive_times_are_utc(self):
        assert Period.parse("PT1H").after(datetime(2026, 1, 1)) == datetime(
            2026, 1, 1, 1, tzinfo=UTC
        )


class TestHolds:
    def test_holds_for_in_force_with_end(self):
        cfg = parse_retention(GOOD)
        created = datetime(2020, 1, 1, tzinfo=UTC)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        got = cfg.holds_for("invoices", [], created, now)
        assert [(h.id, end) for h, end in got] == [
            ("invoices-tax-law", datetime(2030, 1, 1, tzinfo=UTC))
        ]

    def test_hold_ends_exactly_at_its_period(self):
        cfg = parse_retention(GOOD)
        created = datetime(2020, 1, 1, tzinfo=UTC)
        end = datetime(2030, 1, 1, tzinfo=UTC)
        assert cfg.holds_for("invoices", [], created, end - timedelta(seconds=1))
        assert cfg.holds_for("invoices", [], created, end) == []

    def test_by_category(self):
        cfg = parse_retention(GOOD)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        got = cfg.holds_for("orders", ["contact", "financial"], now, now)
        assert [h.id for h, _ in got] == ["litigation"]
        assert cfg.holds_for("orders", ["contact"], now, now) == []

    def test_by_purpose(self):
        text = '[[hold]]\nid = "h"\npurposes = ["billing"]\nground = "tax"\nperiod = "P1Y"\n'
        cfg = parse_retention(text)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        assert cfg.holds[0].applies_to("orders", [], ["billing"])
        assert not cfg.holds[0].applies_to("orders", [])
        assert cfg.holds_for("orders", [], now, now, purposes=["billing"])
