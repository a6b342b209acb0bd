"""Access and portability exports (Art. 15, 20): a signed ZIP, encrypted at rest.

The archive holds:
- `data.json`: the subject and every record, every field, decrypted (`data.schema.json`
  is its JSON Schema);
- `<collection>.csv`: one per collection, the same records as rows;
- `consent_history.json`: the consent ledger with its hash chain, restriction and objections;
- `access_log.json`: who accessed the subject's data, when, for which purpose;
- `summary.pdf`: what is held, purposes and legal bases, retention, recipients, sources;
- `manifest.json`: each file's SHA-256 and size, signed with the receipt key (see README).

Memory: records are read `BATCH` rows at a time and written one by one into the ZIP, which
is sealed in 64 KiB chunks straight into the file (`privacy.requests.archive`). What is
held at once is one batch of sealed rows, one decrypted record, one chunk and the deflate
window, whatever the number of records; the consent history and the PDF (small, per
subject) are built whole. Data is read through the subject's DEK (`privacy.subjects.sealing`)
and each collection read is audited (`record.read`, purpose `dsr_access`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

import kms
from privacy.audit import service as audit
from privacy.catalog.models import Collection
from privacy.config import Settings
from privacy.consent import proof, receipts
from privacy.context import RequestContext
from privacy.db import utcnow
from privacy.requests import archive
from privacy.requests.contents import (
    BATCH,
    FORMAT,
    access_log,
    app_names,
    consent_history,
    csv_cell,
    dumps,
    json_schema,
)
from privacy.requests.models import DataSubjectRequest, DsrExport
from privacy.requests.summary import render_summary
from privacy.runtime import Runtime
from privacy.subjects import sealing
from privacy.subjects.models import Record, Subject

PURPOSE = "dsr_access"


def export_dir(settings: Settings) -> Path:
    path = settings.data_dir / "exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def key_context(request_id: uuid.UUID) -> bytes:
    return f"export:{request_id}".encode()


class _Hashing:
    """Wraps a ZIP entry: counts and hashes what is written to it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.sha.update(data)
        self.size += len(data)


class _Zip:
    def __init__(self, sink: archive.EncryptingWriter) -> None:
        self.zf = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []

    def entry(self, name: str, chunks: Iterator[bytes]) -> None:
        with self.zf.open(name, "w", force_zip64=True) as raw:
            h = _Hashing(raw)
            for chunk in chunks:
                h.write(chunk)
        self.files.append({"name": name, "sha256": h.sha.hexdigest(), "bytes": h.size})

    def close(self) -> None:
        self.zf.close()

    def abort(self) -> None:
        # Finish the ZIP object on a failed export (its file is deleted by the caller), so
        # that it does not try to write into a closed file when it is garbage-collected.
        with contextlib.suppress(Exception):
            self.zf.close()


def _open_subject(rt: Runtime, subject: Subject) -> dict[str, Any]:
    cipher = sealing.cipher_for(rt, subject)

    def field(name: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        where = sealing.aad(subject.id, sealing.SUBJECT_SCOPE, subject.id, name)
        return cipher.open(blob, where).decode()

    return {
        "id": str(subject.id),
        "external_id": field("external_id", subject.external_id_sealed),
        "email": field("email", subject.email_sealed),
        "created_at": proof.rfc3339(subject.created_at),
    }


def _records(
    session: Session, subject_id: uuid.UUID, collection: str | None = None
) -> Iterator[Any]:
    q = sa_select(
        Record.id, Record.collection, Record.sealed, Record.created_at, Record.updated_at
    ).where(Record.subject_id == subject_id)
    if collection is not None:
        q = q.where(Record.collection == collection)
    q = q.order_by(Record.collection, Record.id).execution_options(yield_per=BATCH)
    yield from session.execute(q)


def _open_record(cipher: kms.FieldCipher, subject: Subject, row: Any) -> dict[str, Any]:
    data = {
        name: sealing.open_value(
            cipher, stored, where=sealing.aad(subject.id, row.collection, row.id, name)
        )
        for name, stored in row.sealed.items()
    }
    return {
        "id": str(row.id),
        "created_at": proof.rfc3339(row.created_at),
        "updated_at": proof.rfc3339(row.updated_at),
        "data": data,
    }


class _Census:
    """What pass one saw per collection: record count and field names (for the audit)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.fields: dict[str, set[str]] = {}

    def add(self, collection: str, record: dict[str, Any]) -> None:
        self.counts[collection] = self.counts.get(collection, 0) + 1
        self.fields.setdefault(collection, set()).update(record["data"])


def _data_json(
    session: Session, rt: Runtime, subject: Subject, census: _Census, head: dict[str, Any]
) -> Iterator[bytes]:
    yield dumps(head)[:-1] + b',"subject":' + dumps(_open_subject(rt, subject))
    yield b',"collections":{'
    current = None
    cipher = sealing.cipher_for(rt, subject)  # once: the DEK does not change mid-export
    for row in _records(session, subject.id):
        record = _open_record(cipher, subject, row)
        if row.collection != current:
            yield (b"]," if current is not None else b"") + dumps(row.collection) + b":["
            current = row.collection
        else:
            yield b","
        census.add(row.collection, record)
        yield dumps(record)
    yield (b"]" if current is not None else b"") + b"}}"


def _csv(
    session: Session, rt: Runtime, subject: Subject, collection: str, fields: list[str]
) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["record_id", "created_at", "updated_at", *fields])
    cipher = sealing.cipher_for(rt, subject)
    for n, row in enumerate(_records(session, subject.id, collection), start=1):
        record = _open_record(cipher, subject, row)
        data = record["data"]
        writer.writerow(
            [record["id"], record["created_at"], record["updated_at"]]
            + [csv_cell(data.get(f)) for f in fields]
        )
        if n % 200 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def build(
    session: Session, rt: Runtime, ctx: RequestContext, req: DataSubjectRequest
) -> dict[str, Any]:
    """Write the archive for `req` and return the request's result (names and hashes)."""
    subject = session.get(Subject, req.subject_id)
    if subject is None:
        raise ValueError("the subject of an export must exist")
    now = utcnow()
    wrapped, cipher = rt.keyring.new_key(key_context(req.id))
    folder = export_dir(rt.settings)
    final = folder / f"{req.id}.pvx"
    partial = folder / f"{req.id}.pvx.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            sink = archive.EncryptingWriter(out, cipher, str(req.id))
            census, files = _write_zip(session, rt, sink, req, subject, now)
            sink.finish()
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _audit_reads(session, ctx, req, census)
    expires = now + timedelta(days=rt.settings.export_ttl_days)
    session.add(
        DsrExport(
            request_id=req.id,
            subject_id=req.subject_id,
            file_name=final.name,
            wrapped_key=wrapped,
            size=final.stat().st_size,
            created_at=now,
            expires_at=expires,
        )
    )
    return {
        "export": {
            "files": files["files"],
            "manifest_signature": files["signature"],
            "key_name": files["key_name"],
            "expires_at": proof.rfc3339(expires),
            "download": f"/v1/requests/{req.id}/export",
        },
        "records": census.counts,
    }


def _write_zip(
    session: Session,
    rt: Runtime,
    sink: archive.EncryptingWriter,
    req: DataSubjectRequest,
    subject: Subject,
    now: datetime,
) -> tuple[_Census, dict[str, Any]]:
    census = _Census()
    z = _Zip(sink)
    try:
        return _fill(session, rt, z, req, subject, now, census)
    except BaseException:
        z.abort()
        raise


def _fill(
    session: Session,
    rt: Runtime,
    z: _Zip,
    req: DataSubjectRequest,
    subject: Subject,
    now: datetime,
    census: _Census,
) -> tuple[_Census, dict[str, Any]]:
    head = {"format": FORMAT, "request_id": str(req.id), "generated_at": proof.rfc3339(now)}
    z.entry("data.json", _data_json(session, rt, subject, census, head))
    catalog = {
        c.name: c
        for c in session.exec(
            select(Collection).where(col(Collection.name).in_(list(census.counts)))
        ).all()
    }
    z.entry("data.schema.json", iter([dumps(json_schema(catalog))]))
    for name in sorted(census.counts):
        defined = [f["name"] for f in catalog[name].fields] if name in catalog else []
        fields = defined + sorted(census.fields[name] - set(defined))
        z.entry(f"{name}.csv", _csv(session, rt, subject, name, fields))
    consent = consent_history(session, subject.id)
    z.entry("consent_history.json", iter([dumps(consent)]))
    names = app_names(session)
    z.entry("access_log.json", access_log(session, subject.id, names))
    pdf = render_summary(session, rt, subject, census.counts, catalog, consent, names, now)
    z.entry("summary.pdf", iter([pdf]))
    manifest = {
        "type": "dsr_export",
        "version": 1,
        "request_id": str(req.id),
        "request_type": req.type,
        "subject_id": str(subject.id),
        "created_at": proof.rfc3339(now),
        "files": z.files,
    }
    signed = receipts.sign(rt, manifest)
    files = list(z.files)
    z.entry("manifest.json", iter([json.dumps(signed, indent=2).encode()]))
    z.close()
    return census, {
        "files": files,
        "signature": signed["signature"],
        "key_name": signed["key_name"],
    }


def _audit_reads(
    session: Session, ctx: RequestContext, req: DataSubjectRequest, census: _Census
) -> None:
    why = f"request:{req.id}"
    audit.append(
        session,
        ctx,
        action="subject.read",
        subject_id=req.subject_id,
        fields=["external_id", "email"],
        purpose=PURPOSE,
        reason=why,
    )
    for name, n in sorted(census.counts.items()):
        audit.append(
            session,
            ctx,
            action="record.read",
            subject_id=req.subject_id,
            collection=name,
            fields=census.fields[name],
            purpose=PURPOSE,
            reason=f"{why};records:{n}",
        )
