from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks

from privacy.auth.schemas import TokenResponse
from privacy.deps import AnonymousCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.subject_auth import mail, service
from privacy.subject_auth.schemas import SignInStart, SignInStarted, SignInVerify

router = APIRouter(prefix="/v1/subject-auth", tags=["subject sign-in"], responses=PROBLEM_RESPONSES)


@router.post("/start", status_code=202, response_model=SignInStarted)
def start(
    body: SignInStart,
    background: BackgroundTasks,
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AnonymousCtx,
) -> SignInStarted:
    """Mail a one-time code; the same 202 whether or not the address is known."""
    code = service.start(session, rt, ctx, email=str(body.email))
    if code is not None:
        # Sent after the response, so that its time does not tell a known address apart.
        minutes = int(service.CODE_TTL.total_seconds() // 60)
        msg = mail.sign_in_message(rt.settings, to=str(body.email), code=code, minutes=minutes)
        background.add_task(mail.deliver, rt.settings, msg)
    return SignInStarted()


@router.post("/verify", response_model=TokenResponse)
def verify(
    body: SignInVerify, session: SessionDep, rt: RuntimeDep, ctx: AnonymousCtx
) -> TokenResponse:
    """Exchange the code for a short-lived `subject` token (own data only)."""
    return service.verify(session, rt, ctx, email=str(body.email), code=body.code)
