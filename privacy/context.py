"""Who is calling and from where: passed to every service call that touches personal data."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

ROLES = ("admin", "dpo", "auditor", "app")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a staff user or an app.

    App scopes (least privilege, checked on every endpoint):
      `subjects:read`, `subjects:write`, `collections:read`,
      `records:<read|write|delete>:<collection or *>`, `purpose:<purpose id or *>`.
    """

    kind: Literal["user", "app", "subject", "system"]
    id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def has_scope(self, scope: str) -> bool:
        return any(fnmatchcase(scope, granted) for granted in self.scopes)


@dataclass(frozen=True)
class RequestContext:
    principal: Principal
    request_id: str | None = None
    client_ip: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


SYSTEM = Principal(kind="system", id="privacy-vault", roles=frozenset({"admin"}))
