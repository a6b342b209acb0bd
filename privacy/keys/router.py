from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from privacy.audit import service as audit
from privacy.consent import receipts
from privacy.consent.schemas import PublicKeyRead, PublicKeys
from privacy.deps import AdminCtx, RuntimeDep, SessionDep
from privacy.errors import PROBLEM_RESPONSES
from privacy.keys import rotation

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)


class KeyStatusRead(BaseModel):
    kek: str
    latest_version: int
    min_decryption_version: int
    subjects_total: int
    subjects_on_latest: int
    pending: int


def _read(st: rotation.KeyStatus) -> KeyStatusRead:
    return KeyStatusRead(pending=st.pending, **st.__dict__)


@router.get("/status", response_model=KeyStatusRead)
def key_status(rt: RuntimeDep, ctx: AdminCtx) -> KeyStatusRead:
    """KEK versions and how many DEKs are wrapped under the latest one."""
    return _read(rotation.status(rt))


@router.post("/rotate", response_model=KeyStatusRead)
def rotate(rt: RuntimeDep, ctx: AdminCtx, session: SessionDep) -> KeyStatusRead:
    """Rotate the KEK, rewrap every DEK inside Vault, then retire the old version."""
    st = rotation.rotate(rt)
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
