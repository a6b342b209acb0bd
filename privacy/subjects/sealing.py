"""Sealing and opening field values under a subject's DEK, and their blind indexes."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

import kms
from privacy.runtime import Runtime
from privacy.subjects.models import Subject

SUBJECT_SCOPE = "_subject"


def key_context(subject_id: uuid.UUID) -> bytes:
    """The derived-key context that binds a wrapped DEK to its subject."""
    return str(subject_id).encode()


def new_subject_key(rt: Runtime, subject_id: uuid.UUID) -> tuple[str, kms.FieldCipher]:
    return rt.keyring.new_key(key_context(subject_id))


def cipher_for(rt: Runtime, subject: Subject) -> kms.FieldCipher:
    return rt.keyring.cipher(subject.wrapped_dek, key_context(subject.id))


def aad(subject_id: Any, collection: str, record_id: Any, field: str) -> bytes:
    return kms.field_aad(str(subject_id), collection, str(record_id), field)


def seal_value(cipher: kms.FieldCipher, value: bytes, *, where: bytes) -> str:
    return base64.b64encode(cipher.seal(value, where)).decode()


def open_value(cipher: kms.FieldCipher, stored: str, *, where: bytes) -> Any:
    """Raises kms.DecryptionFailed for anything that does not open."""
    try:
        blob = base64.b64decode(stored.encode(), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise kms.DecryptionFailed("stored value is not a valid ciphertext") from None
    return json.loads(cipher.open(blob, where))


def index_text(encoded: bytes) -> str:
    value = json.loads(encoded)
    return value if isinstance(value, str) else json.dumps(value)


def digest(rt: Runtime, collection: str, field: str, kind: str, encoded: bytes) -> str:
    return rt.indexer.digest(f"{collection}.{field}", kind, index_text(encoded))
