"""Reports as PDF (reportlab), JSON and CSV. Input is counts and catalog facts only."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from privacy.reports.service import RetentionReport, Ropa

FORMATS = {"pdf": "application/pdf", "json": "application/json", "csv": "text/csv"}


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


def to_json(report: RetentionReport | Ropa) -> bytes:
    data = asdict(report)
    if isinstance(report, RetentionReport):
        data["purges_by_day"] = [{"day": d, "purged": n} for d, n in report.purges_by_day]
    return json.dumps(data, default=_default, indent=2).encode()


def retention_csv(report: RetentionReport) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "policy",
            "covers",
            "period",
            "trigger",
            "action",
            "unit",
            "in_scope",
            "expiring_30d",
            "expiring_90d",
            "overdue",
            "held",
            "held_by",
            "purged_in_period",
        ]
    )
    for p in report.policies:
        held_by = "; ".join(f"{h['hold']}={h['count']} ({h['ground']})" for h in p.held_by)
        w.writerow(
            [
                p.id,
                p.covers,
                p.period,
                p.trigger,
                p.action,
                p.unit,
                _n(p.in_scope),
                _n(p.expiring_30),
                _n(p.expiring_90),
                _n(p.overdue),
                _n(p.held),
                held_by,
                p.purged_in_period,
            ]
        )
    return out.getvalue().encode()


def ropa_csv(report: Ropa) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "purpose",
            "description",
            "legal_basis",
            "collections",
            "data_categories",
            "recipients",
            "retention",
            "holds",
        ]
    )
    for a in report.activities:
        w.writerow(
            [
                a.purpose,
                a.description,
                a.legal_basis,
                "; ".join(a.collections),
                "; ".join(a.data_categories),
                "; ".join(a.recipients),
                "; ".join(a.retention),
                "; ".join(a.holds),
            ]
        )
    return out.getvalue().encode()


def _n(v: int | None) -> str:
    return "" if v is None else str(v)


# --- PDF -------------------------------------------------------------------------------------

_styles = getSampleStyleSheet()
_cell = ParagraphStyle("cell", parent=_styles["BodyText"], fontSize=7.5, leading=9)
_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
    ]
)


def _p(text: Any) -> Paragraph:
    # Paragraph takes mini-markup: escape what came from configuration or the catalog.
    s = "" if text is None else str(text)
    return Paragraph(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), _cell)


def _doc(buf: io.BytesIO, title: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        title=title,
        author="Privacy Vault",
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def retention_pdf(report: RetentionReport) -> bytes:
    buf = io.BytesIO()
    story: list[Any] = [
        Paragraph("Retention report", _styles["Title"]),
        Paragraph(
            f"Generated {_stamp(report.generated_at)}. Purges counted since "
            f"{_stamp(report.since)}. Policies from {_esc(report.source)}.",
            _styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    head = [
        "Policy",
        "Covers",
        "Period",
        "Trigger",
        "Action",
        "In scope",
        "Expiring 30 d",
        "Expiring 90 d",
        "Overdue",
        "Held",
        "Held by (ground)",
        "Purged in period",
    ]
    rows = [[_p(h) for h in head]]
    for p in report.policies:
        held_by = "; ".join(f"{h['hold']}: {h['count']} ({h['ground']})" for h in p.held_by)
        rows.append(
            [
                _p(p.id),
                _p(p.covers),
                _p(p.period),
                _p(p.trigger),
                _p(p.action),
                _p(_n(p.in_scope) or "n/a"),
                _p(_n(p.expiring_30) or "n/a"),
                _p(_n(p.expiring_90) or "n/a"),
                _p(_n(p.overdue) or "n/a"),
                _p(_n(p.held) or "n/a"),
                _p(held_by or "-"),
                _p(p.purged_in_period),
            ]
        )
    widths = [28, 45, 16, 22, 26, 16, 18, 18, 16, 14, 42, 20]
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(_GRID)
    story += [table, Spacer(1, 6 * mm), Paragraph("Purges per day", _styles["Heading2"])]
    story.append(_chart(report.purges_by_day))
    if report.holds:
        story += [Spacer(1, 4 * mm), Paragraph("Legal holds", _styles["Heading2"])]
        hrows = [[_p("Hold"), _p("Covers"), _p("Kept for"), _p("Ground")]]
        for h in report.holds:
            covers = ", ".join(h["applies_to_collections"]) or "no collection yet"
            hrows.append(
                [_p(h["id"]), _p(covers), _p(h["period"] or "until lifted"), _p(h["ground"])]
            )
        ht = Table(hrows, colWidths=[40 * mm, 70 * mm, 30 * mm, 120 * mm], repeatRows=1)
        ht.setStyle(_GRID)
        story.append(ht)
    _doc(buf, "Retention report").build(story)
    return buf.getvalue()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chart(series: list[tuple[date, int]]) -> Drawing:
    drawing = Drawing(260 * mm, 60 * mm)
    values = [n for _, n in series] or [0]
    chart = VerticalBarChart()
    chart.x, chart.y = 15 * mm, 10 * mm
    chart.width, chart.height = 235 * mm, 45 * mm
    chart.data = [values]
    chart.bars[0].fillColor = colors.HexColor("#3a6ea5")
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(max(values), 1)
    step = max(1, len(series) // 12)
    chart.categoryAxis.categoryNames = [
        d.strftime("%m-%d") if i % step == 0 else "" for i, (d, _) in enumerate(series)
    ]
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontSize = 6
    drawing.add(chart)
    drawing.add(
        String(15 * mm, 57 * mm, f"records purged per day (total {sum(values)})", fontSize=7)
    )
    return drawing


def ropa_pdf(report: Ropa) -> bytes:
    buf = io.BytesIO()
    story: list[Any] = [
        Paragraph("Record of processing activities (Art. 30 GDPR)", _styles["Title"]),
        Paragraph(
            f"Generated {_stamp(report.generated_at)} from the purpose catalog and "
            "the collections of this Privacy Vault.",
            _styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    head = [
        "Purpose",
        "Description",
        "Legal basis",
        "Collections",
        "Categories of data",
        "Recipients",
        "Retention",
        "Legal holds",
    ]
    rows = [[_p(h) for h in head]]
    for a in report.activities:
        rows.append(
            [
                _p(a.purpose),
                _p(a.description),
                _p(a.legal_basis),
                _p(", ".join(a.collections)),
                _p(", ".join(a.data_categories)),
                _p(", ".join(a.recipients) or "none"),
                _p("; ".join(a.retention)),
                _p("; ".join(a.holds) or "-"),
            ]
        )
    if not report.activities:
        rows.append([_p("no purposes declared")] + [_p("")] * 7)
    widths = [26, 50, 24, 30, 35, 30, 45, 33]
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(_GRID)
    story += [
        table,
        Spacer(1, 6 * mm),
        Paragraph("Security measures (Art. 32)", _styles["Heading2"]),
    ]
    story += [Paragraph(f"&bull; {_esc(m)}", _styles["BodyText"]) for m in report.security_measures]
    _doc(buf, "Record of processing activities").build(story)
    return buf.getvalue()


def render(report: RetentionReport | Ropa, fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    if isinstance(report, RetentionReport):
        return retention_pdf(report) if fmt == "pdf" else retention_csv(report)
    return ropa_pdf(report) if fmt == "pdf" else ropa_csv(report)
