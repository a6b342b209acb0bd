"""KEK rotation: rotate in Vault, rewrap every stored DEK inside Vault, then retire the old
version. Resumable: each batch commits on its own, and a rerun picks up whatever is still
wrapped under an older version."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select

import kms
from privacy.db import new_session
from privacy.keys import service as keys_service
from privacy.runtime import Runtime
from privacy.subjects.models import Subject
from privacy.subjects.sealing import key_context

log = logging.getLogger("privacy.keys")
BATCH = 100  # OpenBao refuses very large batch_input lists; low hundreds is safe.


@dataclass
class KeyStatus:
    kek: str
    latest_version: int
    min_decryption_version: int
    subjects_total: int
    subjects_on_latest: int

    @property
    def pending(self) -> int:
        return self.subjects_total - self.subjects_on_latest


def _prefix(version: int) -> str:
    return f"vault:v{version}:"


def status(rt: Runtime) -> KeyStatus:
    info = rt.transit.key_info(rt.settings.kek_name)
    with new_session(rt.engine) as session:
        total = session.exec(select(func.count()).select_from(Subject)).one()
        current = session.exec(
            select(func.count())
            .select_from(Subject)
            .where(col(Subject.wrapped_dek).startswith(_prefix(info.latest_version)))
        ).one()
    return KeyStatus(
        kek=rt.settings.kek_name,
        latest_version=info.latest_version,
        min_decryption_version=info.min_decryption_version,
        subjects_total=total,
        subjects_on_latest=current,
    )


def rewrap_pending(
    rt: Runtime, *, batch: int = BATCH, progress: Callable[[int], None] | None = None
) -> int:
    """Rewrap every subject DEK not yet under the latest KEK version. Returns the count.

    Walks subjects in id order and commits each batch, so an interrupted run loses at most
    one batch of work and a rerun starts again from what is still pending. Vault refuses a
    whole batch when one wrapped key in it is corrupt: that batch is then retried key by
    key and the bad ones are left pending (and counted in the status) instead of blocking
    the rotation for everyone.
    """
    latest = rt.transit.key_info(rt.settings.kek_name).latest_version
    done, after = 0, None
    while True:
        with new_session(rt.engine) as session:
            query = select(Subject).where(~col(Subject.wrapped_dek).startswith(_prefix(latest)))
            if after is not None:
                query = query.where(col(Subject.id) > after)
            rows = list(session.exec(query.order_by(col(Subject.id)).limit(batch)).all())
            if not rows:
                return done
            after = rows[-1].id
            rewrapped = _rewrap_rows(rt, rows)
            for subject, wrapped in rewrapped:
                subject.wrapped_dek = wrapped
                session.add(subject)
            session.commit()
        done += len(rewrapped)
        if progress:
            progress(len(rewrapped))
        log.info("rewrapped %d subject keys (%d so far)", len(rewrapped), done)


def _rewrap_rows(rt: Runtime, rows: list[Subject]) -> list[tuple[Subject, str]]:
    try:
        fresh = rt.keyring.rewrap([(s.wrapped_dek, key_context(s.id)) for s in rows])
        return list(zip(rows, fresh, strict=True))
    except kms.DecryptionFailed:
        out = []
        for s in rows:
            try:
                out.append((s, rt.keyring.rewrap([(s.wrapped_dek, key_context(s.id))])[0]))
            except kms.DecryptionFailed:
                log.error("subject %s: wrapped DEK does not unwrap; left pending", s.id)
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


def finish(
    rt: Runtime, *, retire_old: bool = True, progress: Callable[[int], None] | None = None
) -> KeyStatus:
    """Complete (or resume) a rotation."""
    rewrap_pending(rt, progress=progress)
    keys_service.rewrap_all(rt.engine, rt.transit, vault_key=rt.settings.service_key_name)
    st = status(rt)
    if retire_old and st.pending == 0:
        rt.transit.set_min_decryption_version(rt.settings.kek_name, st.latest_version)
        svc = rt.transit.key_info(rt.settings.service_key_name)
        rt.transit.set_min_decryption_version(rt.settings.service_key_name, svc.latest_version)
        st = status(rt)
    return st
