"""The data behind the DPO reports: counts and catalog facts only, never personal data.

- Retention: per policy, what is in scope, what expires in the next 30 and 90 days, what
  is overdue (expired and not held), what was purged in the period, what holds keep and
  why, and purges per day for the chart.
- Record of processing activities (Art. 30(1) GDPR), from the purpose catalog and the
  collections: purposes, legal bases, categories of data, recipients (apps allowed the
  purpose), retention periods and holds, and the security measures the service applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from privacy.auth.models import App
from privacy.catalog.models import Purpose
from privacy.retention.models import RetentionPurge
from privacy.retention.policy import Policy, as_utc
from privacy.retention.scope import (
    Catalog,
    candidates,
    hold_collections,
    load_catalog,
    policy_collections,
)
from privacy.retention.service import count_policy
from privacy.runtime import Runtime
from privacy.subjects.models import Record

SECURITY_MEASURES = (
    "Each field value is encrypted with AES-256-GCM under a key per data subject, bound to "
    "its subject, collection, record and field.",
    "Data keys are wrapped by a key held in Vault/OpenBao that never leaves it; erasing a "
    "subject destroys its key (crypto-shredding).",
    "Every access to personal data names a purpose, is checked against it and is written "
    "to a tamper-evident, signed access log.",
    "Retention policies and legal holds are enforced by a scheduled purge.",
)


@dataclass
class PolicyRow:
    id: str
    description: str
    covers: str
    period: str
    trigger: str
    action: str
    unit: str  # records | subjects | entries (service data)
    in_scope: int | None
    expiring_30: int | None
    expiring_90: int | None
    overdue: int | None
    held: int | None
    held_by: list[dict[str, Any]]
    purged_in_period: int


@dataclass
class RetentionReport:
    generated_at: datetime
    since: datetime
    source: str
    policies: list[PolicyRow]
    holds: list[dict[str, Any]]
    purges_by_day: list[tuple[date, int]] = field(default_factory=list)


def _covers(p: Policy) -> str:
    if p.data:
        return f"service data: {p.data}"
    parts = [
        f"{kind}: {', '.join(names)}"
        for kind, names in (
            ("collections", p.collections),
            ("categories", p.categories),
            ("purposes", p.purposes),
        )
        if names
    ]
    return "; ".join(parts)


def _count_expired(
    session: Session, p: Policy, catalog: Catalog, collections: list[str], at: datetime
) -> int:
    cutoff = p.cutoff(at)
    return sum(
        session.execute(
            select(func.count()).select_from(Record).where(*candidates(p, catalog, c, cutoff))
        ).scalar_one()
        for c in collections
    )


def retention_report(
    session: Session, rt: Runtime, *, now: datetime, days: int = 90
) -> RetentionReport:
    now = as_utc(now)
    since = now - timedelta(days=days)
    catalog = load_catalog(session)
    purged = dict(
        session.execute(
            select(RetentionPurge.policy_id, func.sum(RetentionPurge.count))
            .where(col(RetentionPurge.at) >= since)
            .group_by(RetentionPurge.policy_id)
        ).all()
    )
    rows = []
    for p in rt.retention.policies:
        base = {
            "id": p.id,
            "description": p.description,
            "covers": _covers(p),
            "period": p.period.text,
            "trigger": p.trigger,
            "action": p.action if not p.fields else f"{p.action} ({', '.join(p.fields)})",
            "purged_in_period": int(purged.get(p.id) or 0),
        }
        if p.data is not None:
            rows.append(
                PolicyRow(
                    **base,
                    unit="entries",
                    in_scope=None,
                    expiring_30=None,
                    expiring_90=None,
                    overdue=None,
                    held=None,
                    held_by=[],
                )
            )
            continue
        collections = policy_collections(p, catalog)
        counted = count_policy(session, rt, p, catalog, now)
        in_scope = (
            session.execute(
                select(func.count())
                .select_from(Record)
                .where(col(Record.collection).in_(collections))
            ).scalar_one()
            if collections
            else 0
        )
        later = {
            d: _count_expired(session, p, catalog, collections, now + timedelta(days=d))
            - _count_expired(session, p, catalog, collections, now)
            for d in (30, 90)
        }
        rows.append(
            PolicyRow(
                **base,
                unit="subjects" if p.action == "erase_subject" else "records",
                in_scope=in_scope,
                expiring_30=later[30],
                expiring_90=later[90],
                overdue=counted.matched - counted.held,
                held=counted.held,
                held_by=[h.__dict__ for h in counted.held_by],
            )
        )
    holds = [
        {**h.as_dict(), "applies_to_collections": hold_collections(h, catalog)}
        for h in rt.retention.holds
    ]
    return RetentionReport(
        generated_at=now,
        since=since,
        source=rt.retention.source,
        policies=rows,
        holds=holds,
        purges_by_day=_purges_by_day(session, since, now),
    )


def _purges_by_day(session: Session, since: datetime, now: datetime) -> list[tuple[date, int]]:
    days: dict[date, int] = {}
    for at, n in session.execute(
        select(RetentionPurge.at, RetentionPurge.count).where(col(RetentionPurge.at) >= since)
    ).all():
        day = as_utc(at).date()
        days[day] = days.get(day, 0) + int(n)
    start, end = since.date(), now.date()
    return [
        (start + timedelta(days=i), days.get(start + timedelta(days=i), 0))
        for i in range((end - start).days + 1)
    ]


# --- Art. 30 record of processing activities ----------------------------------------------


@dataclass
class Activity:
    purpose: str
    description: str
    legal_basis: str
    collections: list[str]
    data_categories: list[str]
    fields: list[str] | None
    recipients: list[str]
    retention: list[str]
    holds: list[str]


@dataclass
class Ropa:
    generated_at: datetime
    activities: list[Activity]
    security_measures: tuple[str, ...] = SECURITY_MEASURES


def _recipients(apps: list[App], purpose: str) -> list[str]:
    out = []
    for a in apps:
        if any(s in (f"purpose:{purpose}", "purpose:*") for s in a.scopes):
            out.append(f"app {a.name}" + ("" if a.is_active else " (inactive)"))
    return sorted(out)


def ropa(session: Session, rt: Runtime, *, now: datetime) -> Ropa:
    catalog = load_catalog(session)
    apps = list(session.execute(select(App)).scalars())
    out = []
    for p in session.execute(select(Purpose).order_by(col(Purpose.id))).scalars():
        cats: set[str] = set()
        for c in p.collections:
            specs = _field_categories(session, c)
            cats.update(cat for f, cat in specs.items() if p.fields is None or f in p.fields)
        retention = []
        for pol in rt.retention.policies:
            covered = set(policy_collections(pol, catalog))
            if pol.id == p.retention_policy or covered.intersection(p.collections):
                retention.append(f"{pol.id}: {pol.action} {pol.period.text} after {pol.trigger}")
        holds = [
            f"{h.id}: {h.period.text if h.period else 'until lifted'} ({h.ground})"
            for h in rt.retention.holds
            if set(hold_collections(h, catalog)).intersection(p.collections)
        ]
        out.append(
            Activity(
                purpose=p.id,
                description=p.description,
                legal_basis=p.legal_basis,
                collections=list(p.collections),
                data_categories=sorted(cats),
                fields=list(p.fields) if p.fields is not None else None,
                recipients=_recipients(apps, p.id),
                retention=retention or ["no retention policy: kept until deleted"],
                holds=holds,
            )
        )
    return Ropa(generated_at=as_utc(now), activities=out)


def _field_categories(session: Session, collection: str) -> dict[str, str]:
    from privacy.catalog.models import Collection

    c = session.get(Collection, collection)
    return {f["name"]: f["category"] for f in c.fields} if c else {}
