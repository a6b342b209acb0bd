"""Erasure tombstones, kept in Vault/OpenBao (KV v2), not in the database.

Why Vault: a database restored from a backup taken before an erasure brings the subject
back, with every table that could have remembered the erasure rolled back alongside it.
Vault is backed up and restored separately, and the service needs it to run at all, so
a tombstone there survives the restore and `replay_tombstones` erases the subject again.

A tombstone is written *before* anything is deleted (status `pending`), so that a crash
or a restore at any point is followed by a replay that finishes the job, and updated
once the erasure has run (`held` or `completed`, with the signed result).

What it holds, and why that is free of personal data: the subject id (a random UUID the
service issued, meaningless once the subject's data is gone), the request id, times,
counts per collection, the destroyed key's name and the SHA-256 of its wrapped form, the
holds that kept records, and the signed receipt (the same fields). Deliberately absent:
any value, and any keyed hash (blind index) of the external id or e-mail. Such a digest
is still pseudonymous personal data (Recital 26: the service holds the key and the app
holds the id, so the two can be linked again), and it is not needed: a restored subject
comes back under the same subject id, which is what the replay looks for. A person who
later signs up again through an app is a new subject, as they should be.

Layout: `<mount>/subjects/<subject uuid>`. The service may create, update and read them,
and list the folder, but not delete them (deploy/privacy-vault-policy.hcl).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import kms
from kms.kv import KvStore
from privacy.consent.proof import rfc3339
from privacy.runtime import Runtime

FOLDER = "subjects"
PENDING = "pending"


def store(rt: Runtime) -> KvStore:
    return KvStore(rt.transit, rt.settings.tombstone_mount)


def path(subject_id: uuid.UUID) -> str:
    return f"{FOLDER}/{subject_id}"


def mark_pending(
    kv: KvStore, subject_id: uuid.UUID, request_id: uuid.UUID | None, started_at: datetime
) -> None:
    """Record that the subject is being erased, unless a tombstone exists already."""
    doc = {
        "subject_id": str(subject_id),
        "request_id": str(request_id) if request_id else None,
        "status": PENDING,
        "started_at": rfc3339(started_at),
    }
    try:
        kv.write(path(subject_id), doc, cas=0)
    except kms.KmsError as exc:
        # cas=0 refuses to overwrite: an earlier run (or erasure) already left one.
        if "check-and-set" not in str(exc):
            raise


def mark_done(kv: KvStore, subject_id: uuid.UUID, status: str, result: dict[str, Any]) -> None:
    receipt = result.get("receipt", {})
    doc = {
        "subject_id": str(subject_id),
        "request_id": receipt.get("request_id"),
        "status": status,
        "started_at": receipt.get("started_at"),
        "erased_at": receipt.get("erased_at"),
        "result": result,
    }
    kv.write(path(subject_id), doc)


def read(kv: KvStore, subject_id: uuid.UUID) -> dict[str, Any] | None:
    return kv.read(path(subject_id))


def subject_ids(kv: KvStore) -> list[uuid.UUID]:
    out = []
    for name in kv.list(FOLDER):
        try:
            out.append(uuid.UUID(name))
        except ValueError:
            continue  # not ours: the folder holds only subject ids
    return out
