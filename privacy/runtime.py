"""Everything a running service holds: settings, database engine, Vault clients, keys.

Built once at start-up (by the app's lifespan, the worker or a CLI command) and failing
there, not on first use: the transit keys are checked, the service keys unwrapped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

import kms
from privacy.config import Settings
from privacy.db import make_engine, transaction_threads
from privacy.keys import service as keys_service
from privacy.retention.policy import RetentionConfig, load_retention
from privacy.txthreads import TransactionThreads

log = logging.getLogger("privacy.runtime")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    transit: kms.TransitClient
    keyring: kms.KeyRing
    indexer: kms.BlindIndexer
    dek_cache: kms.DekCache
    token_key: bytes = field(repr=False)
    embedded: kms.EmbeddedOpenBao | None = None
    # MACs audit entries on insert (privacy.audit.chain); empty only in hand-built runtimes.
    audit_key: bytes = field(default=b"", repr=False)
    # Retention policies and legal holds (PRIVACY_RETENTION_FILE or the shipped defaults).
    retention: RetentionConfig = field(default_factory=lambda: load_retention(None))
    # Where the hot routes run their transactions (privacy.deps.Transaction).
    tx_threads: TransactionThreads = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tx_threads = transaction_threads(self.engine)

    def close(self) -> None:
        # Requests still in flight finish (and commit) before the engine goes.
        self.tx_threads.shutdown()
        self.engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


def connect_vault(settings: Settings) -> tuple[kms.TransitClient, kms.EmbeddedOpenBao | None]:
    embedded = None
    if settings.embedded_vault:
        embedded = kms.EmbeddedOpenBao(
            settings.data_dir / "openbao", port=settings.embedded_vault_port
        )
        attached = embedded.attach()
        if attached is None:
            info = embedded.start()
        else:
            info, embedded = attached, None  # another process of ours owns that server
        addr, token, role_id, secret_id = info.addr, info.token, None, None
    else:
        addr = settings.vault_addr or ""
        token = settings.vault_token.get_secret_value() if settings.vault_token else None
        role_id = settings.vault_role_id.get_secret_value() if settings.vault_role_id else None
        secret_id = (
            settings.vault_secret_id.get_secret_value() if settings.vault_secret_id else None
        )
    transit = kms.TransitClient(
        addr,
        token=token,
        role_id=role_id,
        secret_id=secret_id,
        mount=settings.vault_mount,
        timeout=settings.vault_timeout,
        retries=settings.vault_retries,
        verify=settings.vault_ca_cert or True,
        namespace=settings.vault_namespace,
    )
    return transit, embedded


def build_runtime(settings: Settings, *, engine: Engine | None = None, **overrides: Any) -> Runtime:
    """Connect to Vault and the database and load the service keys."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A bad retention file stops the service before anything else starts.
    overrides.setdefault("retention", load_retention(settings.retention_file))
    transit, embedded = connect_vault(settings)
    try:
        engine = engine or make_engine(settings.effective_database_url)
        if settings.should_migrate:
            from privacy.migrations.run import upgrade

            upgrade(engine)
        dek_cache = kms.DekCache(
            max_entries=settings.dek_cache_max_entries,
            max_age=settings.dek_cache_max_age,
            max_uses=settings.dek_cache_max_uses,
        )
        keyring = kms.KeyRing(transit, settings.kek_name, dek_cache)
        keyring.ensure_ready()
        transit.ensure_key(settings.service_key_name)
        transit.ensure_key(settings.receipt_key_name, key_type="ed25519")
        index_key = keys_service.load_or_create(
            engine, transit, vault_key=settings.service_key_name, name=keys_service.BLIND_INDEX_KEY
        )
        token_key = keys_service.load_or_create(
            engine,
            transit,
            vault_key=settings.service_key_name,
            name=keys_service.TOKEN_SIGNING_KEY,
        )
        from privacy.audit.chain import prepare_keys

        audit_key = prepare_keys(engine, transit, settings)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Runtime(
        settings=settings,
        engine=engine,
        transit=transit,
        keyring=keyring,
        indexer=kms.BlindIndexer(index_key),
        dek_cache=dek_cache,
        token_key=token_key,
        embedded=embedded,
        audit_key=audit_key,
        **overrides,
    )
