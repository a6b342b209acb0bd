"""Export archives encrypted at rest, written and read as a stream of sealed chunks.

File format (version 1):

    b"PVX1\\n" || chunk*
    chunk = flag (1 byte: 0 more follow, 1 last) || length (4 bytes, big-endian) || sealed

`sealed` is `FieldCipher.seal(plaintext, aad)` of at most `CHUNK` plaintext bytes under the
archive's own key, with `aad = "privacy-export|<request id>|<index>|<flag>"`. Binding the
index and the last-chunk flag makes reordered, dropped, appended or truncated chunks fail
to open, so the reader either yields the exact archive or raises DecryptionFailed.
The plaintext (a ZIP file) never touches the disk.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import kms

MAGIC = b"PVX1\n"
CHUNK = 64 * 1024
_HEAD = struct.Struct(">BI")
_MAX_SEALED = CHUNK + 1024


def _aad(request_id: str, index: int, last: bool) -> bytes:
    return f"privacy-export|{request_id}|{index}|{int(last)}".encode()


class EncryptingWriter(io.RawIOBase):
    """A write-only, unseekable stream that seals what it is given, chunk by chunk.

    `zipfile` writes to unseekable streams with data descriptors, so a ZIP can be built
    straight into it; call `finish()` once at the end to seal the last chunk.
    """

    def __init__(self, out: BinaryIO, cipher: kms.FieldCipher, request_id: str) -> None:
        super().__init__()
        self._out, self._cipher, self._rid = out, cipher, request_id
        self._buf = bytearray()
        self._index = 0
        self.plaintext_bytes = 0
        out.write(MAGIC)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buf.extend(data)
        self.plaintext_bytes += len(data)
        while len(self._buf) > CHUNK:
            self._emit(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]
        return len(data)

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        sealed = self._cipher.seal(chunk, _aad(self._rid, self._index, last))
        self._out.write(_HEAD.pack(int(last), len(sealed)) + sealed)
        self._index += 1

    def finish(self) -> None:
        self._emit(bytes(self._buf), last=True)
        self._buf.clear()


def decrypt(path: Path, cipher: kms.FieldCipher, request_id: str) -> Iterator[bytes]:
    """Yield the archive's plaintext; raise DecryptionFailed at the first bad chunk."""
    bad = kms.DecryptionFailed("the export archive failed its integrity check")
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise bad
        index = 0
        while True:
            head = f.read(_HEAD.size)
            if len(head) != _HEAD.size:
                raise bad  # truncated before the last chunk
            flag, length = _HEAD.unpack(head)
            if flag not in (0, 1) or length > _MAX_SEALED:
                raise bad
            sealed = f.read(length)
            if len(sealed) != length:
                raise bad
            yield cipher.open(sealed, _aad(request_id, index, flag == 1))
            index += 1
            if flag == 1:
                if f.read(1):
                    raise bad  # data after the last chunk
                return
