from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from privacy.audit import service as audit
from privacy.deps import AdminCtx, AdminOrDpoCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.schemas import Cursor, Limit, Page
from privacy.webhooks import service
from privacy.webhooks.schemas import WebhookAttemptRead, WebhookDeliveryRead, WebhookSecretRead

router = APIRouter(prefix="/v1", tags=["webhooks"], responses=PROBLEM_RESPONSES)


@router.post("/apps/{app_id}/webhook-secret", response_model=WebhookSecretRead)
def rotate_webhook_secret(
    app_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, ctx: AdminCtx
) -> WebhookSecretRead:
    """Create or replace an app's webhook signing secret (shown once)."""
    secret = service.rotate_secret(session, rt, app_id)
    audit.append(session, ctx, action="webhook.secret.rotate", reason=f"app:{app_id}")
    return WebhookSecretRead(app_id=app_id, secret=secret)


@router.get("/webhooks/deliveries", response_model=Page[WebhookDeliveryRead])
def list_deliveries(
    session: SessionDep,
    ctx: AdminOrDpoCtx,
    app_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[WebhookDeliveryRead]:
    """Webhook deliveries to apps (Art. 19 notices) with every attempt, newest first."""
    rows, next_cursor = service.list_deliveries(
        session, app_id=app_id, subject_id=subject_id, status=status, limit=limit, cursor=cursor
    )
    items = [
        WebhookDeliveryRead.model_validate(d).model_copy(
            update={"history": [WebhookAttemptRead.model_validate(a) for a in attempts]}
        )
        for d, attempts in rows
    ]
    return Page(items=items, next_cursor=next_cursor)
