"""`summary.pdf` of an export: what is held about the subject and why, in plain language.

Sections: what is held (collections, records, fields and their categories), purposes and
legal bases, retention, recipients (who read the data, from the access log), sources (who
stored it), consent state, and the subject's rights. Built with reportlab; values of the
subject's data are not repeated here (they are in data.json and the CSV files).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlmodel import Session, col, select

from privacy.audit.models import AuditEntry
from privacy.catalog.models import Collection, Purpose
from privacy.runtime import Runtime
from privacy.subjects.models import Record, Subject

RIGHTS = (
    "You may ask for a copy of your data (Art. 15) in a portable form (Art. 20), for wrong "
    "data to be corrected (Art. 16), for your data to be erased (Art. 17), for its "
    "processing to be restricted (Art. 18), and object to processing based on legitimate "
    "interests or a public task (Art. 21). You may also lodge a complaint with a "
    "supervisory authority."
)


def _p(text: str, style: Any) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[str]], style: Any) -> Table:
    cells = [[_p(str(c), style) for c in row] for row in rows]
    t = Table(cells, repeatRows=1, hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t


def _recipients(session: Session, subject: Subject, names: dict[str, str]) -> list[str]:
    actors = session.exec(
        select(AuditEntry.actor)
        .where(
            AuditEntry.subject_id == str(subject.id),
            AuditEntry.outcome == "ok",
            col(AuditEntry.action).in_(["record.read", "subject.read", "subject.lookup"]),
        )
        .distinct()
    ).all()
    return sorted(names.get(a, a) for a in actors)


def _sources(session: Session, subject: Subject, names: dict[str, str]) -> list[str]:
    creators = set(
        session.exec(select(Record.created_by).where(Record.subject_id == subject.id).distinct())
    )
    creators.add(subject.created_by)
    return sorted(names.get(c, c) for c in creators)


def render_summary(
    session: Session,
    rt: Runtime,
    subject: Subject,
    counts: dict[str, int],
    catalog: dict[str, Collection],
    consent: dict[str, Any],
    names: dict[str, str],
    now: datetime,
) -> bytes:
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    story: list[Any] = [
        _p("Your personal data: summary", h1),
        _p(f"Subject {subject.id}, generated {now:%Y-%m-%d %H:%M} UTC.", body),
        _p("What is held", h2),
    ]
    held = [["Collection", "Records", "Fields (category)"]]
    for name in sorted(counts):
        fields = catalog[name].fields if name in catalog else []
        held.append(
            [name, str(counts[name]), ", ".join(f"{f['name']} ({f['category']})" for f in fields)]
        )
    story.append(_table(held, body) if counts else _p("No records are held.", body))
    purposes = [
        p
        for p in session.exec(select(Purpose).order_by(Purpose.id)).all()
        if set(p.collections) & set(counts)
    ]
    story.append(_p("Purposes and legal bases", h2))
    rows = [["Purpose", "Legal basis", "Description", "Retention"]]
    rows += [
        [p.id, p.legal_basis, p.description, p.retention_policy or "as the retention policy sets"]
        for p in purposes
    ]
    story.append(_table(rows, body) if purposes else _p("No purpose covers this data.", body))
    story += [
        _p("Retention", h2),
        _p(
            "Each purpose above names its retention policy; data no purpose needs any more is "
            "purged on schedule. This export is deleted "
            f"{rt.settings.export_ttl_days} days after it was made.",
            body,
        ),
        _p("Recipients (who read this data)", h2),
        _p(", ".join(_recipients(session, subject, names)) or "Nobody has read it.", body),
        _p("Sources (who stored this data)", h2),
        _p(", ".join(_sources(session, subject, names)), body),
        _p("Consent", h2),
    ]
    granted = {e["purpose"]: e["granted"] for e in consent["events"]}
    story.append(
        _p(
            "; ".join(f"{k}: {'granted' if v else 'withdrawn'}" for k, v in sorted(granted.items()))
            or "No consent was recorded.",
            body,
        )
    )
    if consent["restriction"].get("restricted"):
        story.append(_p("Processing of your data is restricted (Art. 18).", body))
    story += [Spacer(1, 0.5 * cm), _p("Your rights", h2), _p(RIGHTS, body)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title="Personal data summary", invariant=1)
    doc.build(story)
    return buf.getvalue()
