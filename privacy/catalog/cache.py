"""A per-process copy of the catalog (collections and purposes) for the record hot paths.

Every change to a collection or purpose bumps the one row of `catalog_version` in the
transaction that makes it (`bump`). A request reads that number in its own transaction
(one tiny query, or a column of a query it makes anyway) and uses the process's copy only
if it was loaded at that same version; otherwise it reloads the whole catalog, which is
small. So a change committed by another process or replica sharing the database is seen
by every request that starts after the commit: there is no TTL and no stale window.

Consent, restriction and objection state is never cached (see privacy.subjects.access).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from privacy.catalog.models import CatalogVersion, Collection, Purpose
from privacy.errors import NotFound

_version_t = CatalogVersion.__table__  # type: ignore[attr-defined]
_collections_t = Collection.__table__  # type: ignore[attr-defined]
_purposes_t = Purpose.__table__  # type: ignore[attr-defined]

# The version column, for use as a scalar subquery in another query.
VERSION = select(_version_t.c.version).where(_version_t.c.id == 1).scalar_subquery()

# Set on a session whose transaction changed the catalog: its reads neither use nor fill
# the cache (were it rolled back, its version number could be reused by another change).
_DIRTY = "privacy.catalog.changed"


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    # [{name, type, category, searchable, required}]; shared, never mutated.
    fields: tuple[dict[str, Any], ...]
    version: int


@dataclass(frozen=True)
class PurposeSpec:
    id: str
    legal_basis: str
    collections: tuple[str, ...]
    # None: every field of the listed collections.
    fields: tuple[str, ...] | None


@dataclass(frozen=True)
class Catalog:
    version: int | None
    collections: dict[str, CollectionSpec]
    purposes: dict[str, PurposeSpec]

    def collection(self, name: str) -> CollectionSpec:
        found = self.collections.get(name)
        if found is None:
            raise NotFound(f"no collection named {name!r}")
        return found


_cache: weakref.WeakKeyDictionary[Engine, Catalog] = weakref.WeakKeyDictionary()


def cached(engine: Engine) -> Catalog | None:
    """This process's copy, at whatever version it was loaded (no query): for work done
    ahead of a transaction, which must then check the version it reads (`at_version`)."""
    return _cache.get(engine)


def current(session: Session) -> Catalog:
    """The catalog as this session's transaction sees it."""
    return at_version(session, session.execute(select(VERSION)).scalar())


def at_version(session: Session, version: int | None) -> Catalog:
    """The same, when the version was read already (`VERSION` as a column of another query
    in this transaction)."""
    engine = session.get_bind()
    if session.info.get(_DIRTY):
        return _load(session, version)
    cached = _cache.get(engine)  # type: ignore[arg-type]
    if cached is not None and version is not None and cached.version == version:
        return cached
    loaded = _load(session, version)
    if version is not None:
        _cache[engine] = loaded  # type: ignore[index]
    return loaded


def _load(session: Session, version: int | None) -> Catalog:
    cols = session.execute(
        select(_collections_t.c.name, _collections_t.c.fields, _collections_t.c.version)
    ).all()
    purposes = session.execute(
        select(
            _purposes_t.c.id,
            _purposes_t.c.legal_basis,
            _purposes_t.c.collections,
            _purposes_t.c.fields,
        )
    ).all()
    return Catalog(
        version=version,
        collections={n: CollectionSpec(n, tuple(f), v) for n, f, v in cols},
        purposes={
            i: PurposeSpec(i, b, tuple(c), None if f is None else tuple(f))
            for i, b, c, f in purposes
        },
    )


def bump(session: Session) -> None:
    """Call in the transaction of every change to a collection or purpose."""
    session.info[_DIRTY] = True
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_version_t).values(id=1, version=1)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[_version_t.c.id], set_={"version": _version_t.c.version + 1}
        )
    )
