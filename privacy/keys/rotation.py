"""KEK rotation: rotate in Vault, rewrap every stored DEK inside Vault, then retire the old
version. Resumable: each batch commits on its own, and a rerun picks up whatever is still
wrapped under an older version."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlmodel import col, select

import kms
from privacy.db import new_session
from privacy.keys import service as keys_service
from privacy.keys.models import ServiceKey
from privacy.requests.export import key_context as export_context
from privacy.requests.models import DsrExport
from privacy.runtime import Runtime
from privacy.subjects.models import Subject
from privacy.subjects.sealing import key_context
from privacy.webhooks.models import WebhookSecret

log = logging.getLogger("privacy.keys")


@dataclass
class KeyStatus:
    kek: str
    latest_version: int
    min_decryption_version: int
    subjects_total: int
    subjects_on_latest: int
    # Subject DEKs per KEK version ({version: count}), newest first.
    versions: dict[int, int] = field(default_factory=dict)
    service_key: str = ""
    service_key_latest_version: int = 0
    service_key_min_decryption_version: int = 0
    service_keys_total: int = 0
    service_keys_on_latest: int = 0
    # Other keys wrapped by the same two transit keys: export-archive keys (KEK) and apps'
    # webhook secrets (service key). Each old version is retired only when these are done too.
    export_keys_pending: int = 0
    webhook_secrets_pending: int = 0

    @property
    def pending(self) -> int:
        return self.subjects_total - self.subjects_on_latest

    @property
    def service_keys_pending(self) -> int:
        return self.service_keys_total - self.service_keys_on_latest

    @property
    def progress(self) -> float:
        """Share of subject DEKs under the latest version (1.0 with none at all)."""
        return self.subjects_on_latest / self.subjects_total if self.subjects_total else 1.0


def _prefix(version: int) -> str:
    return f"vault:v{version}:"


def _count(session: Any, model: Any, column: Any, version: int | None = None) -> int:
    q = select(func.count()).select_from(model)
    if version is not None:
        q = q.where(col(column).startswith(_prefix(version)))
    return int(session.exec(q).one())


def status(rt: Runtime) -> KeyStatus:
    info = rt.transit.key_info(rt.settings.kek_name)
    svc = rt.transit.key_info(rt.settings.service_key_name)
    with new_session(rt.engine) as session:
        total = _count(session, Subject, Subject.wrapped_dek)
        versions = {
            v: n
            for v in sorted(info.versions or range(1, info.latest_version + 1), reverse=True)
            if (n := _count(session, Subject, Subject.wrapped_dek, v))
        }
        svc_total = _count(session, ServiceKey, ServiceKey.wrapped)
        svc_latest = _count(session, ServiceKey, ServiceKey.wrapped, svc.latest_version)
        exports_old = len(_live_exports(session, info.latest_version))
        secrets_old = len(_old_secrets(session, svc.latest_version))
    return KeyStatus(
        kek=rt.settings.kek_name,
        latest_version=info.latest_version,
        min_decryption_version=info.min_decryption_version,
        subjects_total=total,
        subjects_on_latest=versions.get(info.latest_version, 0),
        versions=versions,
        service_key=rt.settings.service_key_name,
        service_key_latest_version=svc.latest_version,
        service_key_min_decryption_version=svc.min_decryption_version,
        service_keys_total=svc_total,
        service_keys_on_latest=svc_latest,
        export_keys_pending=exports_old,
        webhook_secrets_pending=secrets_old,
    )


def _live_exports(session: Any, latest: int) -> list[DsrExport]:
    """Export archives still downloadable whose key is wrapped under an older KEK version."""
    q = select(DsrExport).where(
        col(DsrExport.deleted_at).is_(None),
        col(DsrExport.wrapped_key).startswith("vault:"),
        ~col(DsrExport.wrapped_key).startswith(_prefix(latest)),
    )
    return list(session.exec(q).all())


def _old_secrets(session: Any, latest: int) -> list[WebhookSecret]:
    q = select(WebhookSecret).where(~col(WebhookSecret.wrapped).startswith(_prefix(latest)))
    return list(session.exec(q).all())


def rewrap_other_keys(rt: Runtime) -> int:
    """Rewrap export-archive keys and webhook secrets inside Vault (few rows: one batch
    each), so that retiring an old version cannot leave an archive or an app's webhook
    secret that no longer unwraps. A key that fails to unwrap is left pending."""
    done = 0
    with new_session(rt.engine) as session:
        latest = rt.transit.key_info(rt.settings.kek_name).latest_version
        for exp in _live_exports(session, latest):
            try:
                exp.wrapped_key = rt.keyring.rewrap(
                    [(exp.wrapped_key, export_context(exp.request_id))]
                )[0]
                done += 1
            except kms.DecryptionFailed:
                log.error("export %s: wrapped key does not unwrap; left pending", exp.request_id)
        svc_latest = rt.transit.key_info(rt.settings.service_key_name).latest_version
        for secret in _old_secrets(session, svc_latest):
            try:
                secret.wrapped = rt.transit.rewrap_batch(
                    rt.settings.service_key_name, [(secret.wrapped, None)]
                )[0]
                done += 1
            except kms.DecryptionFailed:
                log.error("webhook secret of app %s does not unwrap; left pending", secret.app_id)
        session.commit()
    return done


def rewrap_pending(
    rt: Runtime, *, batch: int | None = None, progress: Callable[[int], None] | None = None
) -> int:
    """Rewrap every subject DEK not yet under the latest KEK version. Returns the count.

    Walks subjects in id order and commits each batch, so an interrupted run (kill -9
    included) loses at most one batch of work and a rerun starts again from what is
    still pending; every DEK stays readable throughout, under one version or the other.
    Each row is updated only if it still holds the DEK that was rewrapped, so a subject
    erased or rewrapped meanwhile by another process is left alone. Vault refuses a whole
    batch when one wrapped key in it is corrupt: that batch is then retried key by key
    and the bad ones are left pending (and counted in the status) instead of blocking the
    rotation for everyone.
    """
    batch = batch or rt.settings.rewrap_batch_size
    latest = rt.transit.key_info(rt.settings.kek_name).latest_version
    done, after = 0, None
    while True:
        with new_session(rt.engine) as session:
            query = select(Subject.id, Subject.wrapped_dek).where(
                ~col(Subject.wrapped_dek).startswith(_prefix(latest))
            )
            if after is not None:
                query = query.where(col(Subject.id) > after)
            rows = list(session.exec(query.order_by(col(Subject.id)).limit(batch)).all())
            if not rows:
                return done
            after = rows[-1][0]
            pairs = [
                {"sid": sid, "old": old, "new": new} for (sid, old), new in _rewrap_rows(rt, rows)
            ]
            # One executemany; a row changed meanwhile (erased, or rewrapped by another
            # process) no longer matches `old` and is left alone.
            changed = 0
            if pairs:
                res = session.connection().execute(_REWRAP_UPDATE, pairs)
                changed = res.rowcount if res.rowcount >= 0 else len(pairs)  # type: ignore[attr-defined]
            session.commit()
        done += changed
        if progress:
            progress(changed)
        log.info("rewrapped %d subject keys (%d so far)", changed, done)


_T = Subject.__table__  # type: ignore[attr-defined]
_REWRAP_UPDATE = (
    update(_T)
    .where(_T.c.id == bindparam("sid"), _T.c.wrapped_dek == bindparam("old"))
    .values(wrapped_dek=bindparam("new"))
)


def _rewrap_rows(rt: Runtime, rows: list[Any]) -> list[tuple[Any, str]]:
    try:
        fresh = rt.keyring.rewrap([(wrapped, key_context(sid)) for sid, wrapped in rows])
        return list(zip(rows, fresh, strict=True))
    except kms.DecryptionFailed:
        out = []
        for sid, wrapped in rows:
            try:
                out.append(((sid, wrapped), rt.keyring.rewrap([(wrapped, key_context(sid))])[0]))
            except kms.DecryptionFailed:
                log.error("subject %s: wrapped DEK does not unwrap; left pending", sid)
        return out


def rotate(
    rt: Runtime,
    *,
    retire_old: bool = True,
    progress: Callable[[int], None] | None = None,
) -> KeyStatus:
    """Rotate the KEK, rewrap all DEKs and service keys, then (if nothing is left under an
    older version) raise min_decryption_version so old wrapped copies stop unwrapping."""
    rt.transit.rotate_key(rt.settings.kek_name)
    rt.transit.rotate_key(rt.settings.service_key_name)
    return finish(rt, retire_old=retire_old, progress=progress)


def run(
    rt: Runtime,
    *,
    resume: bool = False,
    retire_old: bool = True,
    started_by: str = "api",
    progress: Callable[[int], None] | None = None,
) -> KeyStatus:
    """Rotate (or, with `resume`, finish an interrupted rotation) under the key-rotation
    job's lock, recorded as a job run. Raises JobAlreadyRunning while one runs elsewhere."""
    from privacy.scheduling.service import run_recorded

    done: list[KeyStatus] = []

    def job(rt: Runtime, _run: Any) -> dict[str, Any]:
        step = finish if resume else rotate
        done.append(step(rt, retire_old=retire_old, progress=progress))
        st = done[0]
        return {
            "latest_version": st.latest_version,
            "min_decryption_version": st.min_decryption_version,
            "pending": st.pending,
        }

    run_recorded(rt, "key-rotation", job, started_by=started_by, raise_errors=True)
    return done[0]


def finish(
    rt: Runtime, *, retire_old: bool = True, progress: Callable[[int], None] | None = None
) -> KeyStatus:
    """Complete (or resume) a rotation.

    min_decryption_version is raised for a key only when a fresh count finds nothing
    left wrapped under an older version of it; otherwise the old versions stay usable
    and the status says how much is pending.
    """
    rewrap_pending(rt, progress=progress)
    keys_service.rewrap_all(rt.engine, rt.transit, vault_key=rt.settings.service_key_name)
    rewrap_other_keys(rt)
    st = status(rt)
    if not retire_old:
        return st
    if (
        st.pending == 0
        and st.export_keys_pending == 0
        and st.min_decryption_version < st.latest_version
    ):
        rt.transit.set_min_decryption_version(rt.settings.kek_name, st.latest_version)
    if (
        st.service_keys_pending == 0
        and st.webhook_secrets_pending == 0
        and st.service_key_min_decryption_version < st.service_key_latest_version
    ):
        rt.transit.set_min_decryption_version(
            rt.settings.service_key_name, st.service_key_latest_version
        )
    return status(rt)
