"""What a policy or hold covers, resolved against the catalog, and which records it matches.

Policies and holds name collections, PII categories and purposes; records belong to a
collection. A collection is in scope when it is named, when one of its fields carries a
named category, or when a named purpose covers it (a purpose whose `retention_policy` is a
policy's id also puts its collections in that policy's scope).

Holds are turned into a cut-off instant per collection: a record created after the cut-off
is held (`created_at > now - period` for some hold in force on its collection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, not_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from privacy.catalog.models import Collection, Purpose
from privacy.consent.models import ConsentState
from privacy.retention.policy import Hold, Policy, RetentionConfig
from privacy.subjects.models import Record, Subject


@dataclass(frozen=True)
class Catalog:
    categories: dict[str, frozenset[str]]  # collection -> categories of its fields
    purposes: dict[str, frozenset[str]]  # collection -> purposes covering it
    purpose_policy: dict[str, str | None]  # purpose -> its retention_policy
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # collection -> fields
    legal_basis: dict[str, str] = field(default_factory=dict)  # purpose -> legal basis


def load_catalog(session: Session) -> Catalog:
    cats: dict[str, frozenset[str]] = {}
    names: dict[str, tuple[str, ...]] = {}
    for c in session.exec(select(Collection)).scalars():
        cats[c.name] = frozenset(f["category"] for f in c.fields)
        names[c.name] = tuple(f["name"] for f in c.fields)
    covering: dict[str, set[str]] = {c: set() for c in cats}
    pol: dict[str, str | None] = {}
    basis: dict[str, str] = {}
    for p in session.exec(select(Purpose)).scalars():
        pol[p.id], basis[p.id] = p.retention_policy, p.legal_basis
        for c in p.collections:
            covering.setdefault(c, set()).add(p.id)
    return Catalog(
        categories=cats,
        purposes={c: frozenset(ps) for c, ps in covering.items()},
        purpose_policy=pol,
        fields=names,
        legal_basis=basis,
    )


def policy_collections(policy: Policy, catalog: Catalog) -> list[str]:
    """The collections a policy on records covers, in name order."""
    if policy.data is not None:
        return []
    out = []
    for name, cats in catalog.categories.items():
        purposes = catalog.purposes.get(name, frozenset())
        linked = any(catalog.purpose_policy.get(p) == policy.id for p in purposes)
        if linked or policy.applies_to(name, cats, purposes):
            out.append(name)
    return sorted(out)


def hold_collections(hold: Hold, catalog: Catalog) -> list[str]:
    return sorted(
        name
        for name, cats in catalog.categories.items()
        if hold.applies_to(name, cats, catalog.purposes.get(name, frozenset()))
    )


@dataclass(frozen=True)
class HoldGate:
    """The holds on one collection at `now`: records created after `keep_after` are held."""

    holds: tuple[tuple[Hold, datetime | None], ...]  # (hold, its cut-off; None: forever)

    @property
    def forever(self) -> bool:
        return any(cut is None for _, cut in self.holds)

    @property
    def keep_after(self) -> datetime | None:
        """Records created after this are held; None with no holds (see `forever`)."""
        cuts = [cut for _, cut in self.holds if cut is not None]
        return min(cuts) if cuts else None

    def held_clause(self, created: Any) -> Any:
        """SQL: the record is held by at least one hold (false when there are none)."""
        if not self.holds:
            return False
        if self.forever:
            return True
        return created > self.keep_after

    def free_clause(self, created: Any) -> Any:
        if not self.holds:
            return True
        if self.forever:
            return False
        return created <= self.keep_after


def hold_gate(cfg: RetentionConfig, catalog: Catalog, collection: str, now: datetime) -> HoldGate:
    cats = catalog.categories.get(collection, frozenset())
    purposes = catalog.purposes.get(collection, frozenset())
    return HoldGate(
        tuple(
            (h, h.period.before(now) if h.period else None)
            for h in cfg.holds
            if h.applies_to(collection, cats, purposes)
        )
    )


def relevant_purposes(policy: Policy, catalog: Catalog, collection: str) -> list[str]:
    """Purposes whose withdrawn consent starts a consent_withdrawn policy on `collection`."""
    covering = catalog.purposes.get(collection, frozenset())
    if policy.purposes:
        return sorted(set(policy.purposes) & covering) or sorted(policy.purposes)
    return sorted(covering)


def candidates(policy: Policy, catalog: Catalog, collection: str, cutoff: datetime) -> list[Any]:
    """SQL conditions on `Record` for records of `collection` whose trigger is past `cutoff`
    (anchor <= cutoff). An empty list of purposes makes nothing match."""
    where: list[Any] = [col(Record.collection) == collection]
    if policy.trigger == "created":
        where.append(col(Record.created_at) <= cutoff)
    elif policy.trigger == "updated":
        where.append(col(Record.updated_at) <= cutoff)
    elif policy.trigger == "subject_inactive":
        where.append(col(Record.subject_id).in_(inactive_subjects(cutoff)))
    elif policy.trigger == "consent_withdrawn":
        purposes = relevant_purposes(policy, catalog, collection)
        if not purposes:
            return [*where, False]
        withdrawn = select(ConsentState.subject_id).where(
            col(ConsentState.purpose).in_(purposes),
            col(ConsentState.granted).is_(False),
            col(ConsentState.updated_at) <= cutoff,
        )
        granted = select(ConsentState.subject_id).where(
            col(ConsentState.purpose).in_(purposes), col(ConsentState.granted).is_(True)
        )
        where.append(col(Record.subject_id).in_(withdrawn))
        where.append(not_(col(Record.subject_id).in_(granted)))
    else:  # validated when the file was loaded
        raise ValueError(f"unknown trigger {policy.trigger}")
    return where


def inactive_subjects(cutoff: datetime) -> Any:
    """Subjects neither changed themselves nor had a record created or changed since cutoff."""
    newer = aliased(Record)
    return select(Subject.id).where(
        col(Subject.updated_at) <= cutoff,
        not_(
            exists().where(
                and_(newer.subject_id == Subject.id, newer.updated_at > cutoff)  # type: ignore[arg-type]
            )
        ),
    )
