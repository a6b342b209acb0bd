"""Subject sign-in: prove control of an e-mail address with a mailed one-time code.

`start` answers the same whether or not the address belongs to a subject, and does the
same work either way (a code row is written for every address; only a known one gets the
mail, sent after the response), so neither the answer nor its timing tells who is a
subject. Codes: 6 digits, 10 minutes, 5 tries, single use, stored as a keyed HMAC under
the Vault-wrapped blind-index key. A newer code supersedes older ones; at most
`MAX_CODES_PER_HOUR` are issued per address, so guessing is bounded at 25 tries an hour.

`verify` counts the try in a transaction of its own before it compares the code, so a
refused try cannot be rolled back and concurrent guesses cannot exceed the limit.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from privacy.audit import service as audit
from privacy.auth import tokens
from privacy.auth.schemas import TokenResponse
from privacy.context import Principal, RequestContext
from privacy.db import new_session, utcnow
from privacy.errors import Unauthorized
from privacy.keys.service import TOKEN_SIGNING_KEY
from privacy.runtime import Runtime
from privacy.subject_auth.models import SignInCode, SubjectSession
from privacy.subjects.models import Subject
from privacy.subjects.service import EMAIL_SCOPE

CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5
MAX_CODES_PER_HOUR = 5
CODE_SCOPE = "_subject_auth.code"
WRONG = "the code is wrong, expired or already used: request a new one if in doubt"


def email_index(rt: Runtime, email: str) -> str:
    return rt.indexer.digest(EMAIL_SCOPE, "email", email)


def _code_hash(rt: Runtime, code_id: uuid.UUID, code: str) -> str:
    return rt.indexer.digest(CODE_SCOPE, "id", f"{code_id}:{code}")


def start(session: Session, rt: Runtime, ctx: RequestContext, *, email: str) -> str | None:
    """Issue a code for `email`; return it only if a subject has that address (to mail)."""
    now = utcnow()
    index = email_index(rt, email)
    hour_ago = now - timedelta(hours=1)
    session.exec(delete(SignInCode).where(col(SignInCode.expires_at) < hour_ago))
    session.exec(delete(SubjectSession).where(col(SubjectSession.expires_at) < now))
    recent = session.exec(
        select(func.count())
        .select_from(SignInCode)
        .where(SignInCode.email_index == index, col(SignInCode.created_at) > hour_ago)
    ).one()
    known = session.exec(select(Subject.id).where(Subject.email_index == index).limit(1)).first()
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SignInCode(email_index=index, code_hash="", expires_at=now + CODE_TTL)
    row.code_hash = _code_hash(rt, row.id, code)
    if recent >= MAX_CODES_PER_HOUR:
        audit.append(
            session, ctx, action="subject_auth.start", outcome="denied", reason="rate_limited"
        )
        return None
    # A new code supersedes the older ones.
    session.exec(
        update(SignInCode)
        .where(SignInCode.email_index == index, col(SignInCode.used_at).is_(None))
        .values(used_at=now)
    )
    session.add(row)
    audit.append(
        session,
        ctx,
        action="subject_auth.start",
        outcome="ok" if known else "not_found",
        reason=f"code:{row.id}",
    )
    return code if known else None


def _refuse(ctx: RequestContext, reason: str, detail: str = WRONG) -> Unauthorized:
    err = Unauthorized(detail)
    err.audit = audit.event(ctx, action="subject_auth.verify", outcome="denied", reason=reason)
    return err


def _take_try(rt: Runtime, index: str, ctx: RequestContext) -> uuid.UUID:
    """Count one try against the address's live code, committed at once; its id."""
    now = utcnow()
    with new_session(rt.engine) as s:
        row = s.exec(
            select(SignInCode)
            .where(
                SignInCode.email_index == index,
                col(SignInCode.used_at).is_(None),
                col(SignInCode.expires_at) > now,
            )
            .order_by(col(SignInCode.created_at).desc())
            .limit(1)
        ).first()
        if row is None:
            s.rollback()
            raise _refuse(ctx, "no_live_code")
        counted = s.exec(  # type: ignore[call-overload]
            update(SignInCode)
            .where(col(SignInCode.id) == row.id, col(SignInCode.attempts) < MAX_TRIES)
            .values(attempts=SignInCode.attempts + 1)
        ).rowcount
        s.commit()
    if counted != 1:
        raise _refuse(ctx, "locked", "too many wrong codes: this code is locked, request a new one")
    return row.id


def verify(
    session: Session, rt: Runtime, ctx: RequestContext, *, email: str, code: str
) -> TokenResponse:
    """Exchange a live code for a `subject` token scoped to the subjects with that address."""
    index = email_index(rt, email)
    code_id = _take_try(rt, index, ctx)
    row = session.get(SignInCode, code_id)
    if row is None or not hmac.compare_digest(row.code_hash, _code_hash(rt, code_id, code)):
        raise _refuse(ctx, "wrong_code")
    now = utcnow()
    used = session.exec(  # type: ignore[call-overload]
        update(SignInCode)
        .where(col(SignInCode.id) == code_id, col(SignInCode.used_at).is_(None))
        .values(used_at=now)
    ).rowcount
    subject_ids = sorted(
        str(s) for s in session.exec(select(Subject.id).where(Subject.email_index == index))
    )
    if used != 1 or not subject_ids:
        raise _refuse(ctx, "wrong_code")
    ttl = rt.settings.access_token_ttl
    grant = SubjectSession(
        email_index=index, subject_ids=subject_ids, expires_at=now + timedelta(seconds=ttl)
    )
    session.add(grant)
    as_subject = RequestContext(
        Principal(kind="subject", id=str(grant.id), roles=frozenset({"subject"})),
        ctx.request_id,
        ctx.client_ip,
    )
    for sid in subject_ids:
        audit.append(session, as_subject, action="subject_auth.verify", subject_id=sid)
    token = tokens.issue(
        rt.token_key,
        kid=TOKEN_SIGNING_KEY,
        sub=str(grant.id),
        kind="subject",
        roles=["subject"],
        ttl=ttl,
    )
    scope = " ".join(f"subject:{sid}" for sid in subject_ids)
    return TokenResponse(access_token=token, expires_in=ttl, scope=scope)


def resolve_principal(session: Session, claims: dict[str, Any]) -> Principal:
    """The principal of a verified `subject` token: its session must still be live."""
    try:
        grant = session.get(SubjectSession, uuid.UUID(str(claims["sub"])))
    except ValueError:
        grant = None
    if grant is None or grant.expires_at <= utcnow():
        raise Unauthorized("the subject session is unknown or has ended")
    return Principal(
        kind="subject",
        id=str(grant.id),
        roles=frozenset({"subject"}),
        scopes=frozenset(f"subject:{sid}" for sid in grant.subject_ids),
        token_id=claims.get("jti"),
    )
