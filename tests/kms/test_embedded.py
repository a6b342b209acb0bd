"""EmbeddedOpenBao: a real single-node OpenBao with raft storage."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from kms import EmbeddedOpenBao, KmsError, TransitClient
from support.openbao import OpenBaoUnavailable, find_bao


def _free_port_pair() -> int:
    """A port p such that p and p + 1 are both free right now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return int(port)
    raise RuntimeError("no free port pair")


@pytest.fixture
def bao_binary() -> str:
    try:
        return find_bao()
    except OpenBaoUnavailable as exc:
        pytest.skip(str(exc))


class TestStart:
    def test_data_keys_survive_a_restart(self, tmp_path: Path, bao_binary: str) -> None:
        data_dir = tmp_path / "openbao"
        port = _free_port_pair()
        with EmbeddedOpenBao(data_dir, port=port, bao_binary=bao_binary) as info:
            client = TransitClient(info.addr, token=info.token)
            client.ensure_key("kek", derived=True)
            dek, wrapped = client.generate_data_key("kek", context=b"subject-1")
            assert info.token not in repr(info)

        mode = stat.S_IMODE((data_dir / "init.json").stat().st_mode)
        assert mode == 0o600

        with EmbeddedOpenBao(data_dir, port=port, bao_binary=bao_binary) as again:
            assert again.token == info.token
            client = TransitClient(again.addr, token=again.token)
            assert client.decrypt_data_key("kek", wrapped, context=b"subject-1") == dek

    def test_port_in_use_raises_clear_error(self, tmp_path: Path, bao_binary: str) -> None:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            server = EmbeddedOpenBao(tmp_path, port=port, bao_binary=bao_binary)
            with pytest.raises(KmsError, match="already in use"):
                server.start()
        server.stop()

    def test_missing_binary_raises_kms_error(self, tmp_path: Path) -> None:
        server = EmbeddedOpenBao(tmp_path, port=_free_port_pair(), bao_binary="/nonexistent/bao")
        with pytest.raises(KmsError, match="bao binary not found"):
            server.start()

    def test_stop_is_idempotent(self, tmp_path: Path, bao_binary: str) -> None:
        server = EmbeddedOpenBao(tmp_path, bao_binary=bao_binary)
        server.stop()
        server.stop()
