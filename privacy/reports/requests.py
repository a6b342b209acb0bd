"""The register of data-subject requests (Art. 12: answered within a month, or the
extended deadline): counts by type and state, the on-time rate, the median time to close
and the open requests past their deadline. Ids, types and dates only: no personal data."""

from __future__ import annotations

import csv
import io
import json
import statistics
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table
from sqlalchemy import select
from sqlmodel import Session, col

from privacy.requests.models import OPEN_STATUSES, DataSubjectRequest


@dataclass(frozen=True)
class Overdue:
    id: uuid.UUID
    type: str
    status: str
    received_at: datetime
    due_at: datetime  # the deadline in force (the extended one, if extended)
    days_late: int


@dataclass
class RequestsReport:
    generated_at: datetime
    total: int = 0
    # type -> status -> count
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    closed: int = 0  # completed or rejected
    closed_on_time: int = 0
    on_time_rate: float | None = None  # closed on time / closed; None with none closed
    median_days_to_close: float | None = None
    overdue: list[Overdue] = field(default_factory=list)


def _utc(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=like.tzinfo)


def requests_report(session: Session, *, now: datetime) -> RequestsReport:
    report = RequestsReport(generated_at=now)
    rows = session.execute(
        select(
            DataSubjectRequest.id,
            DataSubjectRequest.type,
            DataSubjectRequest.status,
            DataSubjectRequest.received_at,
            DataSubjectRequest.due_at,
            DataSubjectRequest.extended_until,
            DataSubjectRequest.completed_at,
        ).order_by(col(DataSubjectRequest.received_at))
    ).all()
    durations: list[float] = []
    for rid, rtype, status, received, due, extended, completed in rows:
        received = _utc(received, now)
        deadline = _utc(extended or due, now)
        report.total += 1
        per_type = report.by_type.setdefault(rtype, {})
        per_type[status] = per_type.get(status, 0) + 1
        report.by_status[status] = report.by_status.get(status, 0) + 1
        if status in OPEN_STATUSES:
            if deadline < now:
                late = (now - deadline).days
                report.overdue.append(Overdue(rid, rtype, status, received, deadline, late))
            continue
        report.closed += 1
        if completed is not None:
            completed = _utc(completed, now)
            durations.append((completed - received).total_seconds() / 86400)
            if completed <= deadline:
                report.closed_on_time += 1
    if report.closed:
        report.on_time_rate = round(report.closed_on_time / report.closed, 4)
    if durations:
        report.median_days_to_close = round(statistics.median(durations), 2)
    report.overdue.sort(key=lambda o: o.due_at)
    return report


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def to_json(report: RequestsReport) -> bytes:
    return json.dumps(asdict(report), default=_iso, indent=2).encode()


def to_csv(report: RequestsReport) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "type", "status", "count", "id", "due_at", "days_late"])
    for rtype in sorted(report.by_type):
        for status, n in sorted(report.by_type[rtype].items()):
            w.writerow(["count", rtype, status, n, "", "", ""])
    rate = "" if report.on_time_rate is None else report.on_time_rate
    median = "" if report.median_days_to_close is None else report.median_days_to_close
    w.writerow(["summary", "total", "", report.total, "", "", ""])
    w.writerow(["summary", "closed", "", report.closed, "", "", ""])
    w.writerow(["summary", "closed_on_time", "", report.closed_on_time, "", "", ""])
    w.writerow(["summary", "on_time_rate", "", rate, "", "", ""])
    w.writerow(["summary", "median_days_to_close", "", median, "", "", ""])
    for o in report.overdue:
        w.writerow(["overdue", o.type, o.status, "", o.id, _iso(o.due_at), o.days_late])
    return out.getvalue().encode()


def to_pdf(report: RequestsReport) -> bytes:
    from privacy.reports.render import _GRID, _doc, _p, _stamp, _styles

    body = _styles["BodyText"]
    buf = io.BytesIO()
    rate = "n/a" if report.on_time_rate is None else f"{report.on_time_rate * 100:.1f}%"
    median = "n/a" if report.median_days_to_close is None else f"{report.median_days_to_close}"
    story: list[Any] = [
        Paragraph("Data-subject request register", _styles["Title"]),
        Paragraph(f"Generated {_stamp(report.generated_at)}.", body),
        Paragraph(
            f"Requests: {report.total}. Closed: {report.closed}, of which on time: "
            f"{report.closed_on_time} (on-time rate {rate}). Median days to close: {median}. "
            f"Open past their deadline: {len(report.overdue)}.",
            body,
        ),
        Spacer(1, 4 * mm),
        Paragraph("Requests by type and state", _styles["Heading2"]),
    ]
    statuses = sorted(report.by_status)
    rows = [[_p(h) for h in ["Type", *statuses, "Total"]]]
    for rtype in sorted(report.by_type):
        counts = report.by_type[rtype]
        rows.append(
            [_p(rtype)] + [_p(counts.get(s, 0)) for s in statuses] + [_p(sum(counts.values()))]
        )
    if len(rows) == 1:
        rows.append([_p("no requests")])
    table = Table(rows, repeatRows=1)
    table.setStyle(_GRID)
    story += [table, Spacer(1, 6 * mm), Paragraph("Overdue requests", _styles["Heading2"])]
    if report.overdue:
        rows = [[_p(h) for h in ("Request id", "Type", "State", "Due", "Days late")]]
        rows += [
            [_p(o.id), _p(o.type), _p(o.status), _p(_stamp(o.due_at)), _p(o.days_late)]
            for o in report.overdue
        ]
        table = Table(rows, colWidths=[75 * mm, 30 * mm, 35 * mm, 40 * mm, 20 * mm], repeatRows=1)
        table.setStyle(_GRID)
        story.append(table)
    else:
        story.append(Paragraph("None.", body))
    _doc(buf, "Data-subject request register").build(story)
    return buf.getvalue()


def render(report: RequestsReport, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    return to_pdf(report) if fmt == "pdf" else to_csv(report)
