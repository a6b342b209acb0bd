"""Shared schema pieces: a strict base model, paging, constrained names."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from privacy.errors import BadRequest

T = TypeVar("T")

# Names that end up in URLs, AAD and audit entries: keep them boring.
Identifier = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,62}$", min_length=1, max_length=63)
]
Limit = Annotated[int, Field(ge=1, le=1000)]


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
