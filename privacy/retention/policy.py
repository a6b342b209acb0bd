"""The retention policy file: TOML policies and legal holds, validated at start-up.

A policy says how long data in scope is kept after a trigger and what happens then; a
hold keeps data in scope for a period after its creation whatever a policy or an erasure
says. The file is read once (`PRIVACY_RETENTION_FILE`, or the shipped defaults in
`privacy/defaults/retention.toml`); a bad file raises `RetentionFileError` naming the file,
the line and the problem, and the service does not start.

Periods are ISO 8601 durations (`P2Y`, `P6M`, `P30D`, `PT5S`, ...) added with calendar
arithmetic in UTC: `P1M` from 31 January is 28/29 February, `P1D` is 24 hours whatever the
local daylight-saving rules say. A record expires at the instant anchor + period (it is
kept one second before and purged at or after that instant).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

TRIGGERS = ("created", "updated", "consent_withdrawn", "subject_inactive")
ACTIONS = ("delete", "anonymise", "erase_subject")
# The service's own data sets a policy may govern with `data = "..."` instead of a scope of
# collections, categories or purposes. Each is purged by the domain that owns it.
SERVICE_DATA = (
    "audit_log",
    "sessions",
    "revoked_tokens",
    "export_archives",
    "requests",
    "tombstones",
    "job_runs",
)
FOREVER = datetime.max.replace(tzinfo=UTC)
DEFAULTS_NAME = "retention.toml"  # in privacy/defaults/, shipped as package data

_ID = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?!$)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_POLICY_KEYS = {
    "id",
    "description",
    "collections",
    "categories",
    "purposes",
    "data",
    "period",
    "trigger",
    "action",
    "fields",
}
_HOLD_KEYS = {"id", "description", "collections", "categories", "purposes", "period", "ground"}


class RetentionFileError(ValueError):
    """The retention file cannot be used. The message names the file, line and problem."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source, self.line, self.problem = source, line, problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"retention file {where}: {problem}")


@dataclass(frozen=True)
class Period:
    """An ISO 8601 duration, kept as written and applied with calendar arithmetic in UTC."""

    text: str
    delta: relativedelta = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _DURATION.match(text)
        if m is None:
            raise ValueError(
                f"period {text!r} is not an ISO 8601 duration of whole units "
                "(e.g. P2Y, P6M, P30D, PT5S)"
            )
        parts = {k: int(v) for k, v in m.groupdict().items() if v is not None}
        if not any(parts.values()):
            raise ValueError(f"period {text!r} is zero")
        return cls(text=text, delta=relativedelta(**parts))  # type: ignore[arg-type]

    def after(self, instant: datetime) -> datetime:
        return as_utc(instant) + self.delta

    def before(self, instant: datetime) -> datetime:
        return as_utc(instant) - self.delta

    def __str__(self) -> str:
        return self.text


def as_utc(instant: datetime) -> datetime:
    """Aware datetimes are converted; naive ones are taken as UTC (how the database stores)."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _matches(
    collection: str,
    categories: Iterable[str],
    purposes: Iterable[str],
    *,
    scope_collections: tuple[str, ...],
    scope_categories: tuple[str, ...],
    scope_purposes: tuple[str, ...],
) -> bool:
    return (
        collection in scope_collections
        or not set(scope_categories).isdisjoint(categories)
        or not set(scope_purposes).isdisjoint(purposes)
    )


@dataclass(frozen=True)
class Hold:
    """A legal hold: data in scope is kept `period` after its creation (forever without one)."""

    id: str
    collections: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    ground: str
    period: Period | None = None
    description: str = ""

    def applies_to(
        self, collection: str, categories: Iterable[str], purposes: Iterable[str] = ()
    ) -> bool:
        """Whether a record of `collection` (whose fields carry `categories`, and which the
        purposes `purposes` cover) is in this hold's scope."""
        return _matches(
            collection,
            categories,
            purposes,
            scope_collections=self.collections,
            scope_categories=self.categories,
            scope_purposes=self.purposes,
        )

    def until(self, created_at: datetime) -> datetime:
        """When the hold on data created at `created_at` ends (`FOREVER` without a period)."""
        return self.period.after(created_at) if self.period else FOREVER

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "collections": list(self.collections),
            "categories": list(self.categories),
            "purposes": list(self.purposes),
            "period": self.period.text if self.period else None,
            "ground": self.ground,
        }


@dataclass(frozen=True)
class Policy:
    """Data in scope is kept `period` after `trigger`, then `action` is applied."""

    id: str
    collections: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    period: Period
    trigger: str
    action: str
    fields: tuple[str, ...] = ()
    # One of SERVICE_DATA when the policy governs the service's own data instead of records.
    data: str | None = None
    description: str = ""

    @property
    def is_service_data(self) -> bool:
        return self.data is not None

    def applies_to(
        self, collection: str, categories: Iterable[str], purposes: Iterable[str] = ()
    ) -> bool:
        if self.data is not None:
            return False
        return _matches(
            collection,
            categories,
            purposes,
            scope_collections=self.collections,
            scope_categories=self.categories,
            scope_purposes=self.purposes,
        )

    def expires_at(self, anchor: datetime) -> datetime:
        return self.period.after(anchor)

    def cutoff(self, now: datetime) -> datetime:
        """Anchors at or before this instant have expired at `now`."""
        return self.period.before(now)

    def is_expired(self, anchor: datetime, now: datetime) -> bool:
        return self.expires_at(anchor) <= as_utc(now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "collections": list(self.collections),
            "categories": list(self.categories),
            "purposes": list(self.purposes),
            "data": self.data,
            "period": self.period.text,
            "trigger": self.trigger,
            "action": self.action,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class RetentionConfig:
    policies: tuple[Policy, ...]
    holds: tuple[Hold, ...]
    source: str = "<defaults>"

    def policy(self, policy_id: str) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def hold(self, hold_id: str) -> Hold | None:
        return next((h for h in self.holds if h.id == hold_id), None)

    def for_service_data(self, data: str) -> Policy | None:
        """The policy governing one of the service's own data sets, if the file has one."""
        return next((p for p in self.policies if p.data == data), None)

    def holds_for(
        self,
        collection: str,
        categories: Iterable[str],
        created_at: datetime,
        now: datetime,
        purposes: Iterable[str] = (),
    ) -> list[tuple[Hold, datetime]]:
        """Holds still in force at `now` on a record, each with the instant it ends."""
        cats, purps, now = tuple(categories), tuple(purposes), as_utc(now)
        out = []
        for hold in self.holds:
            if hold.applies_to(collection, cats, purps):
                end = hold.until(created_at)
                if end > now:
                    out.append((hold, end))
        return out


# --- loading -------------------------------------------------------------------------------


class _Lines:
    """Line numbers of tables and keys, so semantic errors can name the line.

    tomllib gives values only; this scan of the text maps `[[policy]]` #n and its keys to
    lines. Only the simple layouts the documentation shows are mapped; anything else falls
    back to the table's header line (or none).
    """

    _HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_\-]+)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-.]+)\s*\]")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int], int] = {}
        self.keys: dict[tuple[str, int, str], int] = {}
        self.top: dict[str, int] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(line):
                name = m.group(1)
                index = counts.get(name, 0)
                counts[name] = index + 1
                current = (name, index)
                self.tables[current] = number
            elif m := self._TABLE.match(line):
                current = None
                self.top.setdefault(m.group(1), number)
            elif m := self._KEY.match(line):
                if current is None:
                    self.top.setdefault(m.group(1), number)
                else:
                    self.keys.setdefault((*current, m.group(1)), number)

    def of(self, table: str, index: int, key: str | None = None) -> int | None:
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        return self.tables.get((table, index), self.top.get(table))


class _Reader:
    def __init__(self, source: str, lines: _Lines, table: str, index: int, raw: Any) -> None:
        self.source, self.lines, self.table, self.index = source, lines, table, index
        if not isinstance(raw, Mapping):
            self.fail(None, f"each [[{table}]] must be a table")
        self.raw: Mapping[str, Any] = raw
        self.label = f"[[{table}]] #{index + 1}"

    def fail(self, key: str | None, problem: str) -> None:
        raise RetentionFileError(self.source, self.lines.of(self.table, self.index, key), problem)

    def string(self, key: str, *, required: bool = True, pattern: re.Pattern | None = None) -> str:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.fail(None, f"{self.label}: missing required key {key!r}")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"{self.label}: {key!r} must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            self.fail(
                key,
                f"{self.label}: {key} {value!r} must be lower-case letters, digits, "
                "'-' or '_', starting with a letter (at most 63 characters)",
            )
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"{self.label}: {key!r} must be a list of strings")
        bad = [v for v in value if not _NAME.match(v)]
        if bad:
            self.fail(key, f"{self.label}: {key} has an invalid name {bad[0]!r}")
        if len(set(value)) != len(value):
            self.fail(key, f"{self.label}: {key} lists a name twice")
        return tuple(value)

    def period(self, key: str, *, required: bool = True) -> Period | None:
        text = self.string(key, required=required)
        if not text:
            return None
        try:
            return Period.parse(text)
        except ValueError as exc:
            self.fail(key, f"{self.label}: {exc}")
            raise  # unreachable; keeps type checkers content

    def unknown(self, allowed: set[str]) -> None:
        for key in self.raw:
            if key not in allowed:
                self.fail(
                    key,
                    f"{self.label}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
                )


def _policy(reader: _Reader) -> Policy:
    reader.unknown(_POLICY_KEYS)
    pid = reader.string("id", pattern=_ID)
    reader.label = f"policy {pid!r}"
    collections, categories = reader.names("collections"), reader.names("categories")
    purposes = reader.names("purposes")
    data = reader.string("data", required=False) or None
    if data is not None:
        if data not in SERVICE_DATA:
            reader.fail("data", f"{reader.label}: data must be one of {', '.join(SERVICE_DATA)}")
        if collections or categories or purposes:
            reader.fail(
                "data",
                f"{reader.label}: a policy on the service's own data ({data}) takes no "
                "collections, categories or purposes",
            )
    elif not (collections or categories or purposes):
        reader.fail(
            None,
            f"{reader.label}: name what it covers: collections, categories and/or purposes "
            "(or data = one of the service's own data sets)",
        )
    period = reader.period("period")
    trigger = reader.string("trigger")
    if trigger not in TRIGGERS:
        reader.fail("trigger", f"{reader.label}: trigger must be one of {', '.join(TRIGGERS)}")
    action = reader.string("action")
    if action not in ACTIONS:
        reader.fail("action", f"{reader.label}: action must be one of {', '.join(ACTIONS)}")
    fields = reader.names("fields")
    if action == "anonymise" and not fields:
        reader.fail("action", f"{reader.label}: action 'anonymise' needs fields = [...]")
    if action != "anonymise" and fields:
        reader.fail("fields", f"{reader.label}: fields are only for action 'anonymise'")
    if data is not None and (action != "delete" or trigger != "created"):
        reader.fail(
            "action",
            f"{reader.label}: the service's own data is only deleted a period after creation "
            "(trigger = 'created', action = 'delete')",
        )
    if trigger == "consent_withdrawn" and data is not None:
        reader.fail("trigger", f"{reader.label}: consent_withdrawn applies to records only")
    assert period is not None
    return Policy(
        id=pid,
        collections=collections,
        categories=categories,
        purposes=purposes,
        period=period,
        trigger=trigger,
        action=action,
        fields=fields,
        data=data,
        description=reader.string("description", required=False),
    )


def _hold(reader: _Reader) -> Hold:
    reader.unknown(_HOLD_KEYS)
    hid = reader.string("id", pattern=_ID)
    reader.label = f"hold {hid!r}"
    collections, categories = reader.names("collections"), reader.names("categories")
    purposes = reader.names("purposes")
    if not (collections or categories or purposes):
        reader.fail(
            None, f"{reader.label}: name what it covers: collections, categories and/or purposes"
        )
    return Hold(
        id=hid,
        collections=collections,
        categories=categories,
        purposes=purposes,
        ground=reader.string("ground"),
        period=reader.period("period", required=False),
        description=reader.string("description", required=False),
    )


def parse_retention(text: str, *, source: str = "<string>") -> RetentionConfig:
    """Parse and validate the text of a retention file."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RetentionFileError(
            source, int(m.group(1)) if m else None, f"not valid TOML: {exc}"
        ) from None
    lines = _Lines(text)
    for key in doc:
        if key not in ("policy", "hold"):
            raise RetentionFileError(
                source,
                lines.of(key, 0),
                f"unknown table or key {key!r} (use [[policy]] or [[hold]])",
            )
    built: dict[str, list[Any]] = {"policy": [], "hold": []}
    for table, build in (("policy", _policy), ("hold", _hold)):
        entries = doc.get(table, [])
        if not isinstance(entries, list):
            raise RetentionFileError(
                source, lines.top.get(table), f"{table} must be an array of tables: [[{table}]]"
            )
        seen: dict[str, int] = {}
        for index, raw in enumerate(entries):
            item = build(_Reader(source, lines, table, index, raw))
            if item.id in seen:
                raise RetentionFileError(
                    source,
                    lines.of(table, index, "id"),
                    f"{table} id {item.id!r} is used twice "
                    f"(first in [[{table}]] #{seen[item.id] + 1})",
                )
            seen[item.id] = index
            built[table].append(item)
    data_seen: dict[str, str] = {}
    for index, p in enumerate(built["policy"]):
        if p.data is not None:
            if p.data in data_seen:
                raise RetentionFileError(
                    source,
                    lines.of("policy", index, "data"),
                    f"policy {p.id!r}: {p.data} is already governed by "
                    f"policy {data_seen[p.data]!r}",
                )
            data_seen[p.data] = p.id
    return RetentionConfig(
        policies=tuple(built["policy"]), holds=tuple(built["hold"]), source=source
    )


def default_text() -> str:
    return (resources.files("privacy") / "defaults" / DEFAULTS_NAME).read_text(encoding="utf-8")


def load_retention(path: Path | None) -> RetentionConfig:
    """Load `path`, or the shipped defaults when it is None. Raises RetentionFileError."""
    if path is None:
        return parse_retention(default_text(), source=f"<shipped {DEFAULTS_NAME}>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RetentionFileError(str(path), None, f"cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RetentionFileError(str(path), None, "is not UTF-8 text") from None
    return parse_retention(text, source=str(path))
