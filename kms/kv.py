"""A small key/value store on a Vault/OpenBao KV version 2 mount.

Used for records that must outlive the service's database, such as erasure tombstones:
a database restored from an older backup rolls its own tables back, but not Vault.

It reuses a :class:`~kms.transit.TransitClient`'s authenticated session (token or
AppRole, retries, error translation), so no hvac type escapes here either.
"""

from __future__ import annotations

import re
import time
from typing import Any

from kms.errors import KeyNotFound, KmsError
from kms.transit import TransitClient

__all__ = ["KvStore"]

_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


class KvStore:
    """JSON documents under one KV v2 mount.

    Args:
        transit: an authenticated client (its token needs the KV paths too).
        mount: path of the KV v2 mount, e.g. ``privacy-tombstones``.

    Raises:
        ValueError: the mount path is not a plain path.
    """

    def __init__(self, transit: TransitClient, mount: str) -> None:
        if not _PATH.fullmatch(mount):
            raise ValueError("invalid mount path")
        self._t = transit
        self.mount = mount

    def __repr__(self) -> str:
        return f"KvStore(mount={self.mount!r})"

    def ensure_mount(self) -> None:
        """Enable the KV v2 engine at the mount if missing (needs ``sys/mounts`` rights).

        Raises:
            AccessDenied: the token may not list or enable mounts (an operator enables
                the mount in production; see the deployment policy).
            KmsError: the path holds another kind of engine.
        """
        mounts = self._call(lambda c: c.sys.list_mounted_secrets_engines())
        table = mounts.get("data", mounts)
        existing = table.get(self.mount + "/")
        if existing is None:
            try:
                self._call(
                    lambda c: c.sys.enable_secrets_engine(
                        "kv", path=self.mount, options={"version": "2"}
                    )
                )
            except KmsError as exc:
                if "already in use" not in str(exc):  # another replica was first
                    raise
            self._wait_ready()
        elif existing.get("type") != "kv" or (existing.get("options") or {}).get("version") != "2":
            raise KmsError(f"mount {self.mount!r} exists but is not a KV version 2 engine")

    def _wait_ready(self, timeout: float = 30.0) -> None:
        # A new KV v2 mount "upgrades" itself first and answers errors meanwhile (briefly
        # on a dev server, for a second or more on raft storage).
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.read("_probe")
                return
            except KmsError as exc:
                if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def read(self, path: str) -> dict[str, Any] | None:
        """The latest version of the document at ``path``, or ``None`` if there is none.

        Raises:
            AccessDenied, KeyUnavailable: as usual.
        """
        p = _path(path)
        try:
            resp = self._call(
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=p, mount_point=self.mount, raise_on_deleted_version=True
                )
            )
        except KeyNotFound:
            return None
        return dict(resp["data"]["data"])

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        """Write a new version of the document at ``path``.

        Args:
            cas: check-and-set: ``0`` writes only if the path does not exist yet; ``N``
                only if the current version is ``N``.

        Returns:
            The version written.

        Raises:
            KmsError: the check-and-set failed.
        """
        p = _path(path)
        resp = self._call(
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=p, secret=data, cas=cas, mount_point=self.mount
            )
        )
        return int(resp["data"]["version"])

    def list(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (sub-folders end with ``/``); ``[]`` if none."""
        p = _path(prefix)
        try:
            resp = self._call(
                lambda c: c.secrets.kv.v2.list_secrets(path=p, mount_point=self.mount)
            )
        except KeyNotFound:
            return []
        return list(resp["data"].get("keys") or [])

    def _call(self, fn: Any) -> Any:
        # The transit client owns login, retries and the translation of every hvac error
        # (a missing path or an empty folder is a 404: KeyNotFound). Same package, so its
        # private session is shared deliberately rather than opening a second one.
        client = self._t._client
        return self._t._call(lambda: fn(client))


def _path(path: str) -> str:
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ValueError("invalid KV path")
    return path
