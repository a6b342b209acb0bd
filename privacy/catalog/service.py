"""Collections and purposes: the model the rest of the service is checked against."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.catalog import cache
from privacy.catalog.models import Collection, Purpose
from privacy.catalog.schemas import CollectionPut, PurposePut
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.errors import Conflict, InvalidData, NotFound
from privacy.schemas import page_by_name
from privacy.subjects.access import LEGAL_CLAIMS, LEGAL_CLAIMS_BASES
from privacy.subjects.models import Record

# Properties of a field that stored ciphertext and blind-index rows depend on.
_FROZEN = ("type", "searchable")


def get_collection(session: Session, name: str) -> Collection:
    col = session.get(Collection, name)
    if col is None:
        raise NotFound(f"no collection named {name!r}")
    return col


def list_collections(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[Collection], str | None]:
    """Collections by name (the key), paged by it. Read from the database, not the
    per-process cache: the cache holds specs, not the rows' timestamps."""
    key = col(Collection.name)
    return page_by_name(session, select(Collection), key, limit=limit, cursor=cursor)


def put_collection(
    session: Session, ctx: RequestContext, *, name: str, data: CollectionPut
) -> tuple[Collection, bool]:
    """Create or change a collection. Once it holds records, fields may be added or have
    their category/required flag changed, but not be removed or change type or
    searchability (stored values and indexes depend on those)."""
    new_fields = [f.model_dump() for f in data.fields]
    col = session.get(Collection, name)
    if col is None:
        col = Collection(name=name, fields=new_fields)
        cache.bump(session)
        session.add(col)
        session.flush()
        audit.append(
            session,
            ctx,
            action="collection.create",
            collection=name,
            fields=[f["name"] for f in new_fields],
        )
        return col, True
    has_records = (
        session.exec(
            select(func.count()).select_from(Record).where(Record.collection == name)
        ).one()
        > 0
    )
    if has_records:
        _check_compatible(col.fields, new_fields)
    cache.bump(session)
    col.fields = new_fields
    col.version += 1
    col.updated_at = utcnow()
    session.add(col)
    audit.append(
        session,
        ctx,
        action="collection.update",
        collection=name,
        fields=[f["name"] for f in new_fields],
    )
    return col, False


def _check_compatible(old: list[dict], new: list[dict]) -> None:
    new_by_name = {f["name"]: f for f in new}
    problems = []
    for f in old:
        n = new_by_name.get(f["name"])
        if n is None:
            problems.append(f"{f['name']}: cannot be removed while records exist")
            continue
        for prop in _FROZEN:
            if bool(n.get(prop)) != bool(f.get(prop)) or n.get(prop) != f.get(prop):
                problems.append(f"{f['name']}: {prop} cannot change while records exist")
    if problems:
        raise Conflict("; ".join(problems))


def get_purpose(session: Session, purpose_id: str) -> Purpose:
    purpose = session.get(Purpose, purpose_id)
    if purpose is None:
        raise NotFound(f"no purpose named {purpose_id!r}")
    return purpose


def list_purposes(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[Purpose], str | None]:
    """Purposes by id (the key), paged by it."""
    return page_by_name(session, select(Purpose), col(Purpose.id), limit=limit, cursor=cursor)


def put_purpose(
    session: Session, ctx: RequestContext, *, purpose_id: str, data: PurposePut
) -> tuple[Purpose, bool]:
    """Create or change a purpose; the audit entry names its legal basis (and the old one
    when it changes). Apps are granted a purpose through the `purpose:<id>` scope."""
    if purpose_id == LEGAL_CLAIMS and data.legal_basis not in LEGAL_CLAIMS_BASES:
        raise InvalidData(
            f"legal_basis: the purpose {LEGAL_CLAIMS!r} (the only one a restricted subject's "
            f"records are read for) needs one of {', '.join(LEGAL_CLAIMS_BASES)}"
        )
    missing = [c for c in data.collections if session.get(Collection, c) is None]
    if missing:
        raise InvalidData(f"collections: unknown collection(s) {', '.join(missing)}")
    if data.fields is not None:
        known = {f["name"] for c in data.collections for f in session.get(Collection, c).fields}
        unknown = sorted(set(data.fields) - known)
        if unknown:
            raise InvalidData(f"fields: not in the purpose's collections: {', '.join(unknown)}")
    purpose = session.get(Purpose, purpose_id)
    created = purpose is None
    basis = f"legal_basis:{data.legal_basis}"
    if purpose is not None and purpose.legal_basis != data.legal_basis:
        basis = f"legal_basis:{purpose.legal_basis}->{data.legal_basis}"
    if purpose is None:
        purpose = Purpose(id=purpose_id, **data.model_dump())
    else:
        for key, value in data.model_dump().items():
            setattr(purpose, key, value)
        purpose.updated_at = utcnow()
    cache.bump(session)
    session.add(purpose)
    session.flush()
    audit.append(
        session,
        ctx,
        action="purpose.create" if created else "purpose.update",
        purpose=purpose_id,
        reason=basis,
    )
    return purpose, created
