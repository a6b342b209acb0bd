"""Helpers for the erasure and webhook tests (tests/privacy/erasure, tests/privacy/webhooks)."""

from __future__ import annotations

import uuid
from typing import Any

from privacy.context import SYSTEM, RequestContext
from privacy.db import new_session
from privacy.erasure.service import erase_subject
from privacy.runtime import Runtime


def erase(rt: Runtime, subject_id: str | uuid.UUID, **kw: Any) -> dict[str, Any]:
    """Erase through the service as a DPO tool or the request workflow would."""
    ctx = RequestContext(principal=SYSTEM, request_id="test-erasure")
    with new_session(rt.engine) as session:
        result = erase_subject(session, rt, ctx, uuid.UUID(str(subject_id)), **kw)
        session.commit()
    return result


def distinctive() -> dict[str, Any]:
    """A customer record whose values appear nowhere by chance, to grep for afterwards."""
    tag = uuid.uuid4().hex[:10]
    return {
        "name": f"Zebulon Quartermaine {tag}",
        "email": f"zq.{tag}@erasure-test.example",
        "phone": "+4915700" + str(int(tag[:6], 16) % 10**6).zfill(6),
        "birthday": "1977-07-07",
        "score": 1234.5,
        "vip": True,
        "prefs": {"motto": f"never-forget-{tag}"},
    }
