"""Art. 19 notifications: tell every app that holds a subject what happened to it.

`notify_holding_apps` queues one delivery per app in the caller's transaction (so a
notification exists exactly when the change it reports was committed); `deliver_due`
sends what is due, records every attempt, and reschedules failures with exponential
backoff. An in-process sender (privacy.webhooks.sender) calls it as soon as a
transaction that queued something commits, and a scheduler may call it too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import and_, or_
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

import kms
from privacy.audit.models import AuditEntry
from privacy.auth.models import App
from privacy.catalog.models import Collection
from privacy.consent.proof import canonical, rfc3339
from privacy.db import new_session, utcnow
from privacy.errors import NotFound
from privacy.runtime import Runtime
from privacy.schemas import decode_time_id_cursor, page_of, time_id_key
from privacy.subjects.models import Record, Subject
from privacy.webhooks import signing
from privacy.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
)

log = logging.getLogger("privacy.webhooks")

MAX_BACKOFF = timedelta(hours=6)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BATCH = 50
# Woken when a transaction that queued deliveries commits (one per process is enough:
# every sender in the process then looks for due work).
WAKE = threading.Event()


def of_subject(session: Session, subject_id: uuid.UUID) -> Any:
    """`WHERE` clause for one subject's records that can use the (collection, subject_id)
    index: records has no index on subject_id alone, and a plain `subject_id = ?` scans
    the whole table on both backends."""
    names = list(session.exec(select(Collection.name)).all())
    return and_(col(Record.collection).in_(names), Record.subject_id == subject_id)


def holder_client_ids(session: Session, subject_id: uuid.UUID) -> set[str]:
    """client_ids of the apps that created the subject, wrote its records or read them
    (the audit log remembers readers after the records are gone)."""
    labels = set(
        session.exec(select(Record.created_by).where(of_subject(session, subject_id)).distinct())
    )
    subject = session.get(Subject, subject_id)
    if subject is not None:
        labels.add(subject.created_by)
    labels.update(
        session.exec(
            select(AuditEntry.actor)
            .where(
                AuditEntry.subject_id == str(subject_id),
                AuditEntry.actor_type == "app",
                AuditEntry.outcome == "ok",
            )
            .distinct()
        )
    )
    from privacy.erasure.models import Erasure  # erasure imports this module

    erasure = session.get(Erasure, subject_id)
    ids = {label.removeprefix("app:") for label in labels if label.startswith("app:")}
    return ids | set(erasure.holders if erasure else ())


def notify_holding_apps(
    session: Session, rt: Runtime, subject_id: uuid.UUID, event: str, details: dict[str, Any]
) -> int:
    """Queue one delivery per app that holds the subject and has a webhook_url.

    `details` must hold no personal data values (ids, counts, field names only). Returns
    how many deliveries were queued; they go out once the caller's transaction commits.
    """
    ids = holder_client_ids(session, subject_id)
    if not ids:
        return 0
    apps = session.exec(
        select(App).where(col(App.client_id).in_(ids), col(App.webhook_url).is_not(None))
    ).all()
    now = utcnow()
    for app in apps:
        if not app.is_active:
            continue
        delivery_id = uuid.uuid4()
        payload = {
            "id": str(delivery_id),
            "event": event,
            "subject_id": str(subject_id),
            "occurred_at": rfc3339(now),
            "details": details,
        }
        session.add(
            WebhookDelivery(
                id=delivery_id,
                app_id=app.id,
                event=event,
                subject_id=subject_id,
                payload=payload,
                next_attempt_at=now,
            )
        )
    queued = sum(1 for a in apps if a.is_active)
    if queued:
        session.flush()
        sa_event.listen(session, "after_commit", lambda _s: WAKE.set(), once=True)
    return queued


def rotate_secret(session: Session, rt: Runtime, app_id: uuid.UUID) -> str:
    """Create (or replace) an app's signing secret; the only time it is shown."""
    app = session.get(App, app_id)
    if app is None:
        raise NotFound(f"no app with id {app_id}")
    raw, wrapped = rt.transit.generate_data_key(rt.settings.service_key_name)
    row = session.get(WebhookSecret, app_id) or WebhookSecret(app_id=app_id, wrapped=wrapped)
    row.wrapped = wrapped
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return signing.secret_text(raw)


def _secret(session: Session, rt: Runtime, app_id: uuid.UUID) -> str:
    row = session.get(WebhookSecret, app_id)
    if row is None:
        # Deliveries are always signed: an app that has not fetched its secret yet gets
        # one now (an admin then rotates it to learn it; earlier deliveries stay recorded).
        return rotate_secret(session, rt, app_id)
    raw = rt.transit.decrypt_data_key(rt.settings.service_key_name, row.wrapped)
    return signing.secret_text(raw)


@dataclass
class _Job:
    id: uuid.UUID
    url: str
    event: str
    secret: str
    body: bytes
    attempt: int


def _refuse_url(rt: Runtime, app: App) -> str | None:
    if not app.webhook_url or not app.is_active:
        return "the app has no webhook_url or is inactive"
    url = urlparse(app.webhook_url)
    if rt.settings.env == "production" and url.scheme != "https" and url.hostname not in LOOPBACK:
        # The notice names a subject id: never send it in clear over the network.
        return "production sends webhooks over https only"
    return None


def _claim(rt: Runtime, now: datetime) -> list[_Job]:
    """Take the due deliveries and lease them (next_attempt_at moves past the POST's
    timeout) in a short transaction; the POSTs happen outside any transaction."""
    lease = timedelta(seconds=rt.settings.webhook_timeout + 30)
    jobs = []
    with new_session(rt.engine) as session:
        query = (
            select(WebhookDelivery, App)
            .join(App, col(App.id) == WebhookDelivery.app_id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(BATCH)
        )
        if rt.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        for delivery, app in session.exec(query).all():
            refusal = _refuse_url(rt, app)
            if refusal:
                delivery.status = FAILED
                delivery.last_error = refusal
                session.add(delivery)
                continue
            delivery.next_attempt_at = now + lease
            session.add(delivery)
            jobs.append(
                _Job(
                    id=delivery.id,
                    url=app.webhook_url,
                    event=delivery.event,
                    secret=_secret(session, rt, app.id),
                    body=canonical(delivery.payload),
                    attempt=delivery.attempts + 1,
                )
            )
        session.commit()
    return jobs


def _post(rt: Runtime, client: httpx.Client, job: _Job) -> tuple[int | None, str | None, int]:
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "privacy-vault-webhooks/1",
        "X-Privacy-Event": job.event,
        "X-Privacy-Delivery": str(job.id),
        "X-Privacy-Timestamp": str(ts),
        "X-Privacy-Signature": signing.signature(job.secret, ts, job.body),
    }
    started = time.monotonic()
    try:
        resp = client.post(job.url, content=job.body, headers=headers)
    except httpx.HTTPError as exc:
        took = int((time.monotonic() - started) * 1000)
        return None, f"{type(exc).__name__}"[:200], took
    took = int((time.monotonic() - started) * 1000)
    error = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
    return resp.status_code, error, took


def _record(rt: Runtime, job: _Job, status: int | None, error: str | None, took: int) -> None:
    now = utcnow()
    with new_session(rt.engine) as session:
        delivery = session.get(WebhookDelivery, job.id)
        if delivery is None:  # its app was deleted meanwhile
            return
        session.add(
            WebhookAttempt(
                delivery_id=job.id,
                attempt=job.attempt,
                at=now,
                status_code=status,
                error=error,
                duration_ms=took,
            )
        )
        delivery.attempts = job.attempt
        delivery.last_status = status
        delivery.last_error = error
        if error is None:
            delivery.status = DELIVERED
            delivery.delivered_at = now
        elif job.attempt >= rt.settings.webhook_max_attempts:
            delivery.status = FAILED
        else:
            delay = timedelta(seconds=rt.settings.webhook_retry_base * 2 ** (job.attempt - 1))
            delivery.next_attempt_at = now + min(delay, MAX_BACKOFF)
        session.add(delivery)
        session.commit()
    outcome = "delivered" if error is None else "failed"
    log.info("webhook %s attempt %d %s (%s)", job.id, job.attempt, outcome, status or error)


def deliver_due(rt: Runtime, now: datetime | None = None) -> int:
    """Send every delivery due at `now`; returns how many attempts were made.

    Safe to run from several processes at once: each delivery is leased before its POST.
    """
    try:
        jobs = _claim(rt, now or utcnow())
    except kms.KmsError as exc:  # Vault down: the secrets cannot be unwrapped; retry later
        log.warning("webhook deliveries postponed: %s", type(exc).__name__)
        return 0
    if not jobs:
        return 0
    with httpx.Client(timeout=rt.settings.webhook_timeout, follow_redirects=False) as client:
        for job in jobs:
            _record(rt, job, *_post(rt, client, job))
    return len(jobs)


def list_deliveries(
    session: Session,
    *,
    app_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[WebhookDelivery, list[WebhookAttempt]]], str | None]:
    """Newest first, paged by (created_at, id) descending; each with its attempts."""
    query = select(WebhookDelivery)
    if app_id is not None:
        query = query.where(WebhookDelivery.app_id == app_id)
    if subject_id is not None:
        query = query.where(WebhookDelivery.subject_id == subject_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    after = decode_time_id_cursor(cursor)
    if after is not None:
        at, rid = after
        query = query.where(
            or_(
                col(WebhookDelivery.created_at) < at,
                and_(WebhookDelivery.created_at == at, col(WebhookDelivery.id) < rid),
            )
        )
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
    rows, next_cursor = page_of(
        list(session.exec(query.limit(limit + 1)).all()),
        limit,
        lambda d: time_id_key(d.created_at, d.id),
    )
    # One query for the whole page's attempts, not one per delivery.
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {row.id: [] for row in rows}
    if rows:
        for a in session.exec(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(list(attempts)))
            .order_by(col(WebhookAttempt.delivery_id), col(WebhookAttempt.attempt))
        ).all():
            attempts[a.delivery_id].append(a)
    return [(row, attempts[row.id]) for row in rows], next_cursor
