"""Vault / OpenBao transit client: bytes in, bytes out, kms errors only.

The only hvac importer. Every hvac/requests exception is translated in
:meth:`TransitClient._call` and raised ``from None``, so no hvac type escapes,
not even as ``__cause__``: connection errors, timeouts, sealed server, 5xx and
429 -> KeyUnavailable (all but 429 retried first); 403/401 -> AccessDenied
(after one AppRole re-login); missing key -> KeyNotFound; a wrapped key or
signature that will not open -> DecryptionFailed (opaque); else KmsError.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hv
import requests

from kms.errors import AccessDenied, DecryptionFailed, KeyNotFound, KeyUnavailable, KmsError

__all__ = ["KeyInfo", "TransitClient"]

T = TypeVar("T")

# Transit rejects large batches ("exceeded maximum number of strings" at 1,000);
# 100 per call measured ~30,000 rewraps/s, so there is nothing to gain above it.
REWRAP_CHUNK = 100
# Vault key names end up in URL paths: allow only a safe alphabet.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MAX_WRAPPED_LEN = 4096
_TRANSIENT = (requests.exceptions.RequestException, hv.VaultDown, hv.VaultNotInitialized)
_TRANSIENT += (hv.InternalServerError, hv.BadGateway)
_DENIED = (hv.Forbidden, hv.Unauthorized)


@dataclass(frozen=True)
class KeyInfo:
    """Configuration of one transit key, as Vault reports it."""

    name: str
    type: str
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int
    derived: bool
    exportable: bool
    versions: tuple[int, ...]


class TransitClient:
    """Client for one transit mount.

    Args:
        addr: Vault address, e.g. ``https://vault.internal:8200``.
        token: a Vault token; or give ``role_id`` and ``secret_id`` instead.
        role_id: AppRole role id; the client logs in on first use and again
            when its token expires or is refused once.
        secret_id: AppRole secret id.
        mount: path of the transit mount.
        timeout: seconds per HTTP request.
        retries: extra attempts after a transient failure (never after 4xx).
        verify: TLS verification flag or CA bundle path.
        namespace: Vault Enterprise namespace.

    Raises:
        ValueError: neither a token nor a complete AppRole pair was given.
    """

    def __init__(
        self,
        addr: str,
        *,
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        mount: str = "transit",
        timeout: float = 5.0,
        retries: int = 2,
        verify: bool | str = True,
        namespace: str | None = None,
    ) -> None:
        if token is None and not (role_id and secret_id):
            raise ValueError("give a token, or both role_id and secret_id")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", mount):
            raise ValueError("invalid mount path")
        self._addr = addr
        self._mount = mount
        self._retries = max(0, retries)
        self._approle = (role_id, secret_id) if token is None else None
        # "" rather than None: hvac would otherwise fall back to VAULT_TOKEN or
        # ~/.vault-token, and an AppRole client would start with someone else's token.
        self._client = hvac.Client(
            url=addr, token=token or "", verify=verify, timeout=timeout, namespace=namespace
        )
        self._calls = 0
        self._calls_lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._token_deadline: float | None = None  # monotonic; None = no known expiry

    def __repr__(self) -> str:
        auth = "approle" if self._approle else "token"
        return f"TransitClient(addr={self._addr!r}, mount={self._mount!r}, auth={auth!r})"

    @property
    def calls(self) -> int:
        """Total HTTP requests sent to Vault so far (including retries and logins)."""
        with self._calls_lock:
            return self._calls

    def health(self) -> bool:
        """Whether Vault is reachable, initialised and unsealed. Never raises."""
        try:
            self._count()
            resp = self._client.sys.read_health_status(method="GET")
            body = resp if isinstance(resp, dict) else resp.json()
            return bool(body.get("initialized")) and not body.get("sealed", True)
        except Exception:  # health must answer False, whatever went wrong
            return False

    def enable_transit(self) -> None:
        """Enable the transit engine at this client's mount if it is missing.

        Raises:
            KmsError: the path is used by another engine type.
            AccessDenied, KeyUnavailable: as usual.
        """
        mounts = self._call(lambda: self._client.sys.list_mounted_secrets_engines())
        table = mounts.get("data", mounts)
        existing = table.get(self._mount + "/")
        if existing is None:
            try:
                self._call(
                    lambda: self._client.sys.enable_secrets_engine("transit", path=self._mount)
                )
            except KmsError as exc:
                # Another replica enabled it between our read and write.
                if "already in use" not in str(exc):
                    raise
        elif existing.get("type") != "transit":
            raise KmsError(f"mount {self._mount!r} exists but is not a transit engine")

    def ensure_key(
        self, name: str, *, key_type: str = "aes256-gcm96", derived: bool = False
    ) -> KeyInfo:
        """Create the key if missing, then check it is safe to use.

        Args:
            name: transit key name.
            key_type: e.g. ``aes256-gcm96`` or ``ed25519``.
            derived: whether the key needs a context per operation.

        Returns:
            The key's configuration.

        Raises:
            KmsError: the key is exportable, allows plaintext backup, or its
                type or derived flag differ from what was asked.
        """
        n = _name(name)
        try:
            data = self._read_key(n)
        except KeyNotFound:
            self._op(
                "create_key",
                n,
                key_type=key_type,
                derived=derived,
                exportable=False,
                allow_plaintext_backup=False,
            )
            data = self._read_key(n)
        # Fail at start-up: a key that can leave Vault defeats the design.
        if data.get("exportable") or data.get("allow_plaintext_backup"):
            raise KmsError(f"transit key {name!r} is exportable or allows plaintext backup")
        if data.get("type") != key_type or bool(data.get("derived")) != derived:
            raise KmsError(
                f"transit key {name!r} is {data.get('type')} derived={data.get('derived')}, "
                f"expected {key_type} derived={derived}"
            )
        return _key_info(name, data)

    def key_info(self, name: str) -> KeyInfo:
        """Read a key's configuration.

        Raises:
            KeyNotFound: no such key.
        """
        return _key_info(name, self._read_key(name))

    def rotate_key(self, name: str) -> KeyInfo:
        """Add a new key version; new wraps use it, old ones still open.

        Raises:
            KeyNotFound: no such key.
        """
        self._op("rotate_key", _name(name))
        return self.key_info(name)

    def set_min_decryption_version(self, name: str, version: int) -> KeyInfo:
        """Refuse to decrypt anything wrapped by a version below ``version``.

        Raises:
            KeyNotFound: no such key.
            KmsError: Vault rejected the version (e.g. above the latest).
        """
        self._op("update_key_configuration", _name(name), min_decryption_version=version)
        return self.key_info(name)

    def generate_data_key(
        self, name: str, *, context: bytes | None = None, bits: int = 256
    ) -> tuple[bytes, str]:
        """Create a fresh data key through transit ``datakey/plaintext``.

        Args:
            name: the wrapping key.
            context: key-derivation context (required for derived keys).
            bits: 128, 256 or 512.

        Returns:
            ``(plaintext_key, wrapped)``, where ``wrapped`` is ``vault:vN:...``.

        Raises:
            KeyNotFound: no such key.
        """
        if bits not in (128, 256, 512):
            raise ValueError("bits must be 128, 256 or 512")
        resp = self._op(
            "generate_data_key", _name(name), key_type="plaintext", context=_b64(context), bits=bits
        )
        data = resp["data"]
        return base64.b64decode(data["plaintext"]), data["ciphertext"]

    def decrypt_data_key(self, name: str, wrapped: str, *, context: bytes | None = None) -> bytes:
        """Unwrap a data key made by :meth:`generate_data_key`.

        Raises:
            DecryptionFailed: the wrapped key is malformed, tampered, too old
                for ``min_decryption_version``, or the context is wrong.
            KeyNotFound: no such key.
        """
        _check_wrapped(wrapped)
        resp = self._op(
            "decrypt_data", _name(name), ciphertext=wrapped, context=_b64(context), opaque=True
        )
        return base64.b64decode(resp["data"]["plaintext"])

    def rewrap_batch(self, name: str, items: Sequence[tuple[str, bytes | None]]) -> list[str]:
        """Rewrap wrapped keys under the latest key version, inside Vault.

        Sends one request per chunk of at most 100 items.

        Args:
            name: the wrapping key.
            items: ``(wrapped, context)`` pairs.

        Returns:
            The rewrapped values, in input order.

        Raises:
            DecryptionFailed: any item could not be unwrapped. Earlier chunks
                were rewrapped but their results are not returned; rewrapping
                again is harmless, so callers resume by chunk.
        """
        path = f"/v1/{self._mount}/rewrap/{_name(name)}"
        out: list[str] = []
        for start in range(0, len(items), REWRAP_CHUNK):
            chunk = items[start : start + REWRAP_CHUNK]
            batch = []
            for wrapped, context in chunk:
                _check_wrapped(wrapped)
                entry = {"ciphertext": wrapped}
                if context is not None:
                    entry["context"] = _b64(context)
                batch.append(entry)
            resp = self._call(
                lambda b=batch: self._client.adapter.post(path, json={"batch_input": b}),
                opaque=True,
            )
            results = resp.get("data", {}).get("batch_results") or []
            # OpenBao answers 200 even when items fail: check every result.
            if len(results) != len(chunk) or any(
                r.get("error") or "ciphertext" not in r for r in results
            ):
                raise DecryptionFailed()
            out.extend(r["ciphertext"] for r in results)
        return out

    def hmac(self, name: str, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under a Vault-held key.

        Returns:
            ``vault:vN:<base64>``.
        """
        resp = self._op("generate_hmac", _name(name), hash_input=_b64(data), algorithm="sha2-256")
        return resp["data"]["hmac"]

    def sign(self, name: str, data: bytes) -> str:
        """Sign ``data`` with an ed25519 transit key.

        Returns:
            ``vault:vN:<base64 signature>``.

        Raises:
            KeyNotFound: no such key.
            KmsError: the key cannot sign.
        """
        resp = self._op("sign_data", _name(name), hash_input=_b64(data))
        return resp["data"]["signature"]

    def verify(self, name: str, data: bytes, signature: str) -> bool:
        """Check a signature made by :meth:`sign`.

        Returns:
            ``True`` only for a valid signature; malformed or disallowed
            signatures give ``False``.

        Raises:
            KeyNotFound: no such key.
            KmsError: the key cannot verify.
        """
        n, payload = _name(name), _b64(data)
        try:
            resp = self._op(
                "verify_signed_data", n, hash_input=payload, signature=signature, opaque=True
            )
        except DecryptionFailed:
            return False
        return resp["data"].get("valid") is True

    def public_keys(self, name: str) -> dict[int, str]:
        """Public keys of an asymmetric key, by version (base64 for ed25519).

        Raises:
            KeyNotFound: no such key.
        """
        keys = self._read_key(name).get("keys", {}).items()
        return {
            int(v): k["public_key"] for v, k in keys if isinstance(k, dict) and "public_key" in k
        }

    def _op(self, method: str, *args: Any, opaque: bool = False, **kwargs: Any) -> Any:
        """Call one hvac transit method on our mount through :meth:`_call`."""
        fn = getattr(self._client.secrets.transit, method)
        return self._call(lambda: fn(*args, mount_point=self._mount, **kwargs), opaque=opaque)

    def _read_key(self, name: str) -> dict[str, Any]:
        return self._op("read_key", _name(name))["data"]

    def _count(self) -> None:
        with self._calls_lock:
            self._calls += 1

    def _call(self, fn: Callable[[], T], *, opaque: bool = False) -> T:
        """Run one Vault operation with login, retries and error translation.

        ``opaque`` marks operations on caller-supplied ciphertext or
        signatures: their 400s become :class:`DecryptionFailed` with no detail.
        """
        self._login()
        relogged = False
        while True:
            used_token = self._client.token
            try:
                return self._with_retries(fn)
            except _DENIED:
                # An AppRole token may have been revoked or expired early: log
                # in again once, then give up.
                if self._approle is not None and not relogged:
                    relogged = True
                    self._login(stale=used_token)
                    continue
                raise AccessDenied("Vault denied the request") from None
            except hv.VaultError as exc:
                raise _translate(exc, opaque=opaque) from None

    def _with_retries(self, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            self._count()
            try:
                return fn()
            except hv.RateLimitExceeded:
                raise KeyUnavailable("Vault rate limit exceeded") from None
            except _TRANSIENT as exc:
                if attempt >= self._retries:
                    raise KeyUnavailable(f"Vault unavailable: {type(exc).__name__}") from None
                attempt += 1
                time.sleep(min(0.05 * 2**attempt, 1.0))

    def _login(self, *, stale: str | None = None) -> None:
        """AppRole login when there is no token, it has expired, or it is ``stale``."""
        if self._approle is None:
            return
        with self._login_lock:
            token = self._client.token
            fresh = token and (
                self._token_deadline is None or time.monotonic() < self._token_deadline
            )
            # Another thread may already have replaced the refused token.
            if fresh and (stale is None or token != stale):
                return
            role_id, secret_id = self._approle
            try:
                resp = self._with_retries(
                    lambda: self._client.auth.approle.login(role_id, secret_id, use_token=True)
                )
            except (*_DENIED, hv.InvalidRequest):
                raise AccessDenied("AppRole login was refused") from None
            except hv.VaultError as exc:
                raise _translate(exc, opaque=False) from None
            ttl = float(resp.get("auth", {}).get("lease_duration") or 0)
            # Re-login a little before expiry so in-flight calls don't race it.
            self._token_deadline = time.monotonic() + ttl * 0.9 if ttl > 0 else None


def _translate(exc: hv.VaultError, *, opaque: bool) -> KmsError:
    message = str(exc.args[0]) if exc.args and exc.args[0] else type(exc).__name__
    if isinstance(exc, hv.InvalidPath) or "key not found" in message:
        return KeyNotFound(message)
    if isinstance(exc, hv.InvalidRequest) and opaque and "not support" not in message:
        return DecryptionFailed()
    return KmsError(f"Vault error: {message}")


def _key_info(name: str, data: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        name=name,
        type=str(data.get("type", "")),
        latest_version=int(data.get("latest_version", 0)),
        min_decryption_version=int(data.get("min_decryption_version", 0)),
        min_encryption_version=int(data.get("min_encryption_version", 0)),
        derived=bool(data.get("derived")),
        exportable=bool(data.get("exportable")),
        versions=tuple(sorted(int(v) for v in data.get("keys", {}))),
    )


def _name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("invalid transit key name")
    return name


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(bytes(data)).decode("ascii")


def _check_wrapped(wrapped: str) -> None:
    # Reject obvious garbage locally: same opaque error, no round trip.
    ok = isinstance(wrapped, str) and wrapped.startswith("vault:v")
    if not ok or len(wrapped) > _MAX_WRAPPED_LEN:
        raise DecryptionFailed()
