from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from privacy.auth import service
from privacy.auth.schemas import (
    AppCreate,
    AppCreated,
    AppRead,
    ClientCredentials,
    LoginRequest,
    TokenResponse,
    UserCreate,
    UserRead,
)
from privacy.deps import AdminCtx, AnonymousCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES, BadRequest, InvalidData

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/auth/login", response_model=TokenResponse)
def login(
    body: LoginRequest, session: SessionDep, rt: RuntimeDep, ctx: AnonymousCtx
) -> TokenResponse:
    """Sign a user in with e-mail and password."""
    return service.login(session, rt, ctx, email=body.email, password=body.password)


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": ClientCredentials.model_json_schema()},
            "application/json": {"schema": ClientCredentials.model_json_schema()},
        },
    }
}


async def _credentials(request: Request) -> ClientCredentials:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        raw: object = dict((await request.form()).items())
    elif ctype == "application/json":
        try:
            raw = json.loads(await request.body())
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
    else:
        raise BadRequest("send the credentials as a form or as JSON")
    try:
        return ClientCredentials.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
        raise InvalidData(f"invalid client-credentials request: {fields}") from None


@router.post("/auth/token", response_model=TokenResponse, openapi_extra=_TOKEN_BODY)
def token(
    creds: Annotated[ClientCredentials, Depends(_credentials)],
    session: SessionDep,
    rt: RuntimeDep,
    ctx: AnonymousCtx,
) -> TokenResponse:
    """OAuth2 client-credentials grant for apps (form or JSON)."""
    return service.client_credentials(
        session, rt, ctx, client_id=creds.client_id, client_secret=creds.client_secret
    )


@router.post("/users", status_code=201, response_model=UserRead)
def create_user(body: UserCreate, session: SessionDep, rt: RuntimeDep, ctx: AdminCtx) -> UserRead:
    """Create a staff user (admin only)."""
    return UserRead.model_validate(service.create_user(session, rt, ctx, data=body))


@router.get("/users", response_model=list[UserRead])
def list_users(session: SessionDep, ctx: AdminCtx) -> list[UserRead]:
    """List staff users (admin only)."""
    return [UserRead.model_validate(u) for u in service.list_users(session)]


@router.post("/apps", status_code=201, response_model=AppCreated)
def create_app(body: AppCreate, session: SessionDep, ctx: AdminCtx) -> AppCreated:
    """Register an app; its client secret is shown once."""
    app, secret = service.create_app(session, ctx, data=body)
    return AppCreated(**AppRead.model_validate(app).model_dump(), client_secret=secret)


@router.get("/apps", response_model=list[AppRead])
def list_apps(session: SessionDep, ctx: AdminCtx) -> list[AppRead]:
    """List registered apps (admin only)."""
    return [AppRead.model_validate(a) for a in service.list_apps(session)]
