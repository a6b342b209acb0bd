"""TransitClient against a real OpenBao dev server."""

from __future__ import annotations

import base64
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kms import (
    AccessDenied,
    DecryptionFailed,
    KeyNotFound,
    KeyUnavailable,
    KmsError,
    TransitClient,
)
from support.openbao import DevServer, OpenBaoUnavailable, start_dev_server


@pytest.fixture
def spare_vault() -> Iterator[DevServer]:
    """A server of our own that the test may seal or stop."""
    try:
        server = start_dev_server()
    except OpenBaoUnavailable as exc:
        pytest.skip(f"OpenBao unavailable: {exc}")
    yield server
    server.stop()


class TestEnsureKey:
    def test_creates_missing_key_not_exportable(
        self, transit: TransitClient, key_name: str
    ) -> None:
        info = transit.ensure_key(key_name, derived=True)
        assert info.derived and not info.exportable
        assert info.type == "aes256-gcm96"
        assert info.versions == (1,)

    def test_is_idempotent(self, transit: TransitClient, key_name: str) -> None:
        first = transit.ensure_key(key_name)
        assert transit.ensure_key(key_name) == first

    def test_refuses_exportable_key(
        self, transit: TransitClient, dev_vault: DevServer, key_name: str
    ) -> None:
        dev_vault.request("POST", f"/v1/transit/keys/{key_name}", {"exportable": True})
        with pytest.raises(KmsError, match="exportable"):
            transit.ensure_key(key_name)

    def test_refuses_key_allowing_plaintext_backup(
        self, transit: TransitClient, dev_vault: DevServer, key_name: str
    ) -> None:
        dev_vault.request("POST", f"/v1/transit/keys/{key_name}", {})
        dev_vault.request(
            "POST", f"/v1/transit/keys/{key_name}/config", {"allow_plaintext_backup": True}
        )
        with pytest.raises(KmsError, match="plaintext backup"):
            transit.ensure_key(key_name)

    def test_refuses_key_with_other_derived_flag(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=False)
        with pytest.raises(KmsError, match="derived"):
            transit.ensure_key(key_name, derived=True)


class TestKeyInfo:
    def test_missing_key_raises_key_not_found(self, transit: TransitClient) -> None:
        with pytest.raises(KeyNotFound):
            transit.key_info("no-such-key")

    def test_invalid_key_name_is_rejected_before_any_call(self, transit: TransitClient) -> None:
        before = transit.calls
        with pytest.raises(ValueError):
            transit.key_info("../sys/seal")
        assert transit.calls == before


class TestDataKeys:
    def test_generated_key_unwraps_to_same_bytes(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        dek, wrapped = transit.generate_data_key(key_name, context=b"subject-1")
        assert len(dek) == 32
        assert wrapped.startswith("vault:v1:")
        assert transit.decrypt_data_key(key_name, wrapped, context=b"subject-1") == dek

    def test_wrong_context_fails_closed(self, transit: TransitClient, key_name: str) -> None:
        transit.ensure_key(key_name, derived=True)
        _, wrapped = transit.generate_data_key(key_name, context=b"subject-1")
        with pytest.raises(DecryptionFailed):
            transit.decrypt_data_key(key_name, wrapped, context=b"subject-2")

    @pytest.mark.parametrize("bad", ["garbage", "vault:v1:!!!!", "vault:v9:AAAA", ""])
    def test_malformed_wrapped_key_fails_closed(
        self, transit: TransitClient, key_name: str, bad: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        with pytest.raises(DecryptionFailed):
            transit.decrypt_data_key(key_name, bad, context=b"s")

    def test_tampered_wrapped_key_fails_closed(self, transit: TransitClient, key_name: str) -> None:
        transit.ensure_key(key_name, derived=True)
        _, wrapped = transit.generate_data_key(key_name, context=b"s")
        raw = bytearray(base64.b64decode(wrapped.removeprefix("vault:v1:")))
        raw[-1] ^= 1
        tampered = "vault:v1:" + base64.b64encode(bytes(raw)).decode()
        with pytest.raises(DecryptionFailed) as info:
            transit.decrypt_data_key(key_name, tampered, context=b"s")
        assert info.value.__cause__ is None and str(info.value) == "decryption failed"

    def test_missing_key_raises_key_not_found(self, transit: TransitClient) -> None:
        with pytest.raises(KeyNotFound):
            transit.generate_data_key("no-such-key", context=b"s")


class TestRotation:
    def test_rewrap_batch_moves_keys_to_latest_version_in_chunks_of_100(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        items = []
        deks = []
        for i in range(250):
            context = f"subject-{i}".encode()
            dek, wrapped = transit.generate_data_key(key_name, context=context)
            items.append((wrapped, context))
            deks.append(dek)
        assert transit.rotate_key(key_name).latest_version == 2

        before = transit.calls
        rewrapped = transit.rewrap_batch(key_name, items)
        assert transit.calls - before == 3
        assert all(w.startswith("vault:v2:") for w in rewrapped)
        for i in (0, 99, 100, 249):
            got = transit.decrypt_data_key(key_name, rewrapped[i], context=items[i][1])
            assert got == deks[i]

    def test_rewrap_batch_rejects_a_batch_with_a_bad_item(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        _, w1 = transit.generate_data_key(key_name, context=b"a")
        _, w2 = transit.generate_data_key(key_name, context=b"b")
        with pytest.raises(DecryptionFailed):
            transit.rewrap_batch(key_name, [(w1, b"a"), (w2, b"wrong")])

    def test_min_decryption_version_makes_old_wraps_fail(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        _, old = transit.generate_data_key(key_name, context=b"s")
        transit.rotate_key(key_name)
        info = transit.set_min_decryption_version(key_name, 2)
        assert info.min_decryption_version == 2
        with pytest.raises(DecryptionFailed):
            transit.decrypt_data_key(key_name, old, context=b"s")
        with pytest.raises(DecryptionFailed):
            transit.rewrap_batch(key_name, [(old, b"s")])


class TestHmacAndSignatures:
    def test_hmac_is_deterministic_and_versioned(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name)
        mac = transit.hmac(key_name, b"chain-head")
        assert mac.startswith("vault:v1:")
        assert transit.hmac(key_name, b"chain-head") == mac
        assert transit.hmac(key_name, b"chain-heae") != mac

    def test_signature_verifies_and_tampered_data_does_not(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, key_type="ed25519")
        signature = transit.sign(key_name, b"audit head 42")
        assert signature.startswith("vault:v1:")
        assert transit.verify(key_name, b"audit head 42", signature)
        assert not transit.verify(key_name, b"audit head 43", signature)
        assert not transit.verify(key_name, b"audit head 42", "vault:v1:not-base64!")

    def test_public_key_verifies_signature_offline(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, key_type="ed25519")
        signature = transit.sign(key_name, b"data")
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(transit.public_keys(key_name)[1])
        )
        raw_sig = base64.b64decode(signature.removeprefix("vault:v1:"))
        public.verify(raw_sig, b"data")
        with pytest.raises(InvalidSignature):
            public.verify(raw_sig, b"other")

    def test_symmetric_key_cannot_sign(self, transit: TransitClient, key_name: str) -> None:
        transit.ensure_key(key_name)
        with pytest.raises(KmsError):
            transit.sign(key_name, b"data")


class TestConcurrency:
    def test_threads_share_one_client_and_call_count(
        self, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        before = transit.calls

        def work(n: int) -> bool:
            context = f"subject-{n}".encode()
            dek, wrapped = transit.generate_data_key(key_name, context=context)
            return transit.decrypt_data_key(key_name, wrapped, context=context) == dek

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(work, range(100)))
        assert transit.calls - before == 200


class TestFailures:
    def test_bad_token_raises_access_denied_without_retrying(self, dev_vault: DevServer) -> None:
        client = TransitClient(dev_vault.addr, token="not-a-token", retries=3)
        with pytest.raises(AccessDenied):
            client.key_info("anything")
        assert client.calls == 1

    def test_stopped_server_raises_key_unavailable_quickly(self, spare_vault: DevServer) -> None:
        client = TransitClient(spare_vault.addr, token=spare_vault.token, timeout=1.0, retries=1)
        client.enable_transit()
        assert client.health()
        spare_vault.stop()
        before, started = client.calls, time.monotonic()
        with pytest.raises(KeyUnavailable) as info:
            client.generate_data_key("k", context=b"s")
        assert time.monotonic() - started < 2.0
        assert info.value.__cause__ is None and info.value.__suppress_context__
        assert client.calls - before == 2  # one try + one retry
        assert not client.health()

    def test_sealed_server_raises_key_unavailable(self, spare_vault: DevServer) -> None:
        client = TransitClient(spare_vault.addr, token=spare_vault.token, retries=0)
        client.enable_transit()
        client.ensure_key("k")
        spare_vault.request("PUT", "/v1/sys/seal")
        with pytest.raises(KeyUnavailable):
            client.key_info("k")
        assert not client.health()

    def test_repr_hides_token(self, dev_vault: DevServer) -> None:
        client = TransitClient(dev_vault.addr, token=dev_vault.token)
        assert dev_vault.token not in repr(client)


class TestAppRole:
    def test_logs_in_and_logs_in_again_after_token_expiry(
        self,
        dev_vault: DevServer,
        transit: TransitClient,
        key_name: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # An ambient token (as `bao server -dev` leaves in ~/.vault-token) is never used.
        monkeypatch.setenv("VAULT_TOKEN", "s.ambient-token-that-must-not-be-used")
        transit.ensure_key(key_name, derived=True)
        # Long enough that a slow machine does not cross the re-login margin (90% of the
        # TTL) between the login and the first call.
        role_id, secret_id = _approle(dev_vault, key_name, token_ttl="5s")
        # No retries and a generous timeout: the call counts below must not include a retry
        # caused by a slow, busy machine.
        client = TransitClient(
            dev_vault.addr, role_id=role_id, secret_id=secret_id, retries=0, timeout=30.0
        )
        client.generate_data_key(key_name, context=b"s")
        assert client.calls == 2  # login + datakey
        time.sleep(5.2)
        client.generate_data_key(key_name, context=b"s")
        assert client.calls == 4  # expired token replaced before the call, not after a 403

    def test_refused_token_triggers_one_re_login(
        self, dev_vault: DevServer, transit: TransitClient, key_name: str
    ) -> None:
        transit.ensure_key(key_name, derived=True)
        role_id, secret_id = _approle(dev_vault, key_name, token_ttl="1h")
        client = TransitClient(
            dev_vault.addr, role_id=role_id, secret_id=secret_id, retries=0, timeout=30.0
        )
        client.generate_data_key(key_name, context=b"s")
        _revoke_tokens_with_policy(dev_vault, key_name)
        before = client.calls
        client.generate_data_key(key_name, context=b"s")
        assert client.calls - before == 3  # refused, login, retried

    def test_wrong_secret_id_raises_access_denied(
        self, dev_vault: DevServer, key_name: str
    ) -> None:
        role_id, _ = _approle(dev_vault, key_name, token_ttl="1h")
        client = TransitClient(dev_vault.addr, role_id=role_id, secret_id="wrong")
        with pytest.raises(AccessDenied):
            client.key_info(key_name)


def _approle(server: DevServer, name: str, *, token_ttl: str) -> tuple[str, str]:
    """Create an AppRole (policy named ``name``) allowed to use transit."""
    try:
        server.request("POST", "/v1/sys/auth/approle", {"type": "approle"})
    except urllib.error.HTTPError as exc:
        if exc.code != 400:  # 400: already enabled by an earlier test
            raise
    policy = 'path "transit/*" { capabilities = ["create", "read", "update"] }'
    server.request("PUT", f"/v1/sys/policies/acl/{name}", {"policy": policy})
    server.request(
        "POST",
        f"/v1/auth/approle/role/{name}",
        {"token_policies": [name], "token_ttl": token_ttl, "token_max_ttl": "1h"},
    )
    role_id = server.request("GET", f"/v1/auth/approle/role/{name}/role-id")["data"]["role_id"]
    secret = server.request("POST", f"/v1/auth/approle/role/{name}/secret-id")
    return role_id, secret["data"]["secret_id"]


def _revoke_tokens_with_policy(server: DevServer, policy: str) -> None:
    accessors = server.request("LIST", "/v1/auth/token/accessors")["data"]["keys"]
    for accessor in accessors:
        info = server.request("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})
        if policy in (info["data"].get("policies") or []):
            server.request("POST", "/v1/auth/token/revoke-accessor", {"accessor": accessor})
