from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from privacy.audit import service as audit
from privacy.consent import receipts
from privacy.consent.schemas import PublicKeyRead, PublicKeys
from privacy.deps import AdminCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.keys import rotation
from privacy.scheduling.service import recent_runs

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)


class KeyStatusRead(BaseModel):
    kek: str
    latest_version: int
    min_decryption_version: int
    subjects_total: int
    subjects_on_latest: int
    pending: int = Field(description="Subject DEKs still wrapped under an older KEK version.")
    progress: float = Field(description="Share of subject DEKs under the latest version (0-1).")
    versions: dict[str, int] = Field(description="Subject DEKs per KEK version.")
    service_key: str
    service_key_latest_version: int
    service_key_min_decryption_version: int
    service_keys_total: int
    service_keys_pending: int
    export_keys_pending: int = Field(
        description="Export-archive keys still wrapped under an older KEK version."
    )
    webhook_secrets_pending: int = Field(
        description="Apps' webhook secrets still wrapped under an older service-key version."
    )
    last_rotation: dict[str, Any] | None = Field(
        None, description="The last key-rotation job run: outcome, start, end, counts."
    )


def _read(st: rotation.KeyStatus, last: Any = None) -> KeyStatusRead:
    fields = {
        k: v for k, v in st.__dict__.items() if k not in ("versions", "service_keys_on_latest")
    }
    return KeyStatusRead(
        **fields,
        pending=st.pending,
        progress=round(st.progress, 4),
        versions={str(v): n for v, n in st.versions.items()},
        service_keys_pending=st.service_keys_pending,
        last_rotation=last,
    )


@router.get("/status", response_model=KeyStatusRead)
def key_status(rt: RuntimeDep, ctx: AdminCtx, session: SessionDep) -> KeyStatusRead:
    """KEK versions, DEKs per version, rewrap progress and the last rotation run."""
    st = rotation.status(rt)  # before the request's session takes the (SQLite) connection
    runs = recent_runs(session, job="key-rotation", limit=1)
    last = (
        runs[0].model_dump(include={"outcome", "started_at", "finished_at", "counts", "error"})
        if runs
        else None
    )
    return _read(st, last)


@router.post("/rotate", response_model=KeyStatusRead)
def rotate(rt: RuntimeDep, ctx: AdminCtx, session: SessionDep) -> KeyStatusRead:
    """Rotate the KEK, rewrap every DEK inside Vault, then retire the old version."""
    st = rotation.run(rt, started_by="api")
    audit.append(session, ctx, action="keys.rotate", reason=f"kek:v{st.latest_version}")
    return _read(st)


@router.get("/public", response_model=PublicKeys)
def public_keys(rt: RuntimeDep) -> PublicKeys:
    """Public keys that verify signed receipts offline. Public: no token needed."""
    receipt_key = PublicKeyRead(
        name=rt.settings.receipt_key_name,
        use="receipts",
        algorithm="ed25519",
        versions=receipts.public_keys(rt),
    )
    return PublicKeys(keys=[receipt_key])
