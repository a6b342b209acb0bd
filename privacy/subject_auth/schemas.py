from __future__ import annotations

from pydantic import BaseModel, EmailStr, Field

from privacy.schemas import StrictModel


class SignInStart(StrictModel):
    email: EmailStr


class SignInVerify(StrictModel):
    email: EmailStr
    code: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from the mail.")


class SignInStarted(BaseModel):
    status: str = "accepted"
    detail: str = (
        "if a data subject has this address, a one-time code is on its way; "
        "it is valid for 10 minutes"
    )
