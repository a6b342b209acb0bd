"""TOTP (RFC 6238, pyotp) with one-time recovery codes.

The TOTP secret is sealed with AES-256-GCM under a Vault-wrapped service key, bound to the
user's id; recovery codes are stored as HMACs under the password pepper. A code is taken
once: the last accepted time step is kept, and only a later step passes.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete
from sqlmodel import Session, col, select

from privacy.auth import servicekeys
from privacy.auth.models import RecoveryCode, User
from privacy.db import utcnow
from privacy.errors import Conflict, IntegrityFailure, InvalidData
from privacy.runtime import Runtime

RECOVERY_CODES = 10
_SEALED = "v1:"


def _aad(user: User) -> bytes:
    return f"totp:{user.id}".encode()


def _seal(rt: Runtime, user: User, secret: str) -> str:
    nonce = os.urandom(12)
    key = servicekeys.key(rt, servicekeys.TOTP_KEY)
    ct = AESGCM(key).encrypt(nonce, secret.encode(), _aad(user))
    return _SEALED + base64.b64encode(nonce + ct).decode()


def _open(rt: Runtime, user: User) -> str:
    raw = base64.b64decode((user.totp_secret or "").removeprefix(_SEALED))
    key = servicekeys.key(rt, servicekeys.TOTP_KEY)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], _aad(user)).decode()
    except (InvalidTag, ValueError):
        raise IntegrityFailure("the stored TOTP secret failed its integrity check") from None


def start(rt: Runtime, user: User) -> tuple[str, str]:
    """A new secret, pending until confirmed; returns it and its otpauth:// URI."""
    if user.mfa_enabled:
        raise Conflict("TOTP is already on for this account")
    secret = pyotp.random_base32()
    user.totp_secret = _seal(rt, user, secret)
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=rt.settings.totp_issuer)
    return secret, uri


def _recovery_hash(rt: Runtime, code: str) -> str:
    key = servicekeys.key(rt, servicekeys.PASSWORD_PEPPER)
    normalised = code.strip().lower().replace("-", "")
    return hmac.new(key, b"recovery:" + normalised.encode(), "sha256").hexdigest()


def confirm(session: Session, rt: Runtime, user: User, code: str) -> list[str]:
    """Turn TOTP on with a first valid code; returns the recovery codes (shown once)."""
    if user.mfa_enabled:
        raise Conflict("TOTP is already on for this account")
    if not user.totp_secret:
        raise Conflict("start the enrolment first: POST /v1/auth/mfa/totp")
    if not verify_totp(rt, user, code):
        raise InvalidData("the code is wrong or has been used; check the device's clock")
    user.mfa_enabled = True
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))  # type: ignore[call-overload]
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        code_text = f"{raw[:5]}-{raw[5:]}"
        session.add(RecoveryCode(code_hash=_recovery_hash(rt, code_text), user_id=user.id))
        codes.append(code_text)
    return codes


def verify_totp(rt: Runtime, user: User, code: str) -> bool:
    code = code.strip()
    if not (code.isdigit() and len(code) == 6) or not user.totp_secret:
        return False
    totp = pyotp.TOTP(_open(rt, user))
    current = totp.timecode(time.time())
    for step in (current - 1, current, current + 1):  # one step of clock drift either way
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # replayed within its window
            user.totp_last_step = step
            return True
    return False


def use_recovery_code(session: Session, rt: Runtime, user: User, code: str) -> bool:
    row = session.exec(
        select(RecoveryCode).where(
            RecoveryCode.code_hash == _recovery_hash(rt, code),
            RecoveryCode.user_id == user.id,
            col(RecoveryCode.used_at).is_(None),
        )
    ).first()
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def second_factor(session: Session, rt: Runtime, user: User, code: str) -> bool:
    """A TOTP code or an unused recovery code."""
    if code.strip().isdigit():
        return verify_totp(rt, user, code)
    return use_recovery_code(session, rt, user, code)
