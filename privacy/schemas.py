"""Shared schema pieces: a strict base model, paging, constrained names."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from privacy.errors import BadRequest

T = TypeVar("T")

# Names that end up in URLs, AAD and audit entries: keep them boring.
Identifier = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,62}$", min_length=1, max_length=63)
]
Limit = Annotated[int, Field(ge=1, le=1000)]
# The opaque `cursor` query parameter of a paged list (see encode_cursor/decode_cursor).
Cursor = Annotated[str | None, Query(max_length=500)]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Any) -> str:
    raw = json.dumps({"k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))["k"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadRequest("the cursor is not one this service issued") from None


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Split a `limit + 1` fetch into the page and the cursor for the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key(rows[-1]))
    return rows, None


def _not_ours() -> BadRequest:
    return BadRequest("the cursor is not one this service issued")


def decode_name_cursor(cursor: str | None) -> str | None:
    """The key of a cursor for a list ordered by one unique string (a name, an address)."""
    after = decode_cursor(cursor)
    if after is None or isinstance(after, str):
        return after
    raise _not_ours()


def page_by_name(
    session: Any, query: Any, key: Any, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `query` (a select of one model) ordered by `key`, a unique string
    column, starting after `cursor`: `limit + 1` rows fetched, never the whole list."""
    after = decode_name_cursor(cursor)
    if after is not None:
        query = query.where(key > after)
    rows = list(session.exec(query.order_by(key).limit(limit + 1)).all())
    return page_of(rows, limit, lambda row: getattr(row, key.key))


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The key of a cursor for a list ordered by (created_at, id): `time_id_key` made it."""
    after = decode_cursor(cursor)
    if after is None:
        return None
    try:
        at, rid = after
        when, key = datetime.fromisoformat(at), uuid.UUID(rid)
    except (TypeError, ValueError, AttributeError):
        raise _not_ours() from None
    if when.tzinfo is None:  # ours always carry the zone; a naive one would not compare
        raise _not_ours()
    return when, key


def time_id_key(at: datetime, rid: uuid.UUID) -> list[str]:
    return [at.isoformat(), str(rid)]
