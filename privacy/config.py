"""Settings, read from `PRIVACY_*` environment variables and an optional `.env` file.

Every setting is described where it is declared; `privacy --help` and the README table
are generated from the same descriptions. Validation happens at start-up so that a bad
deployment stops with a message instead of failing on the first request.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlparse

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Tokens that appear in tutorials and `bao server -dev` examples; never acceptable in production.
_WELL_KNOWN_DEV_TOKENS = {"root", "dev", "dev-only-token", "changeme", "myroot", "token"}
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRIVACY_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses the embedded/dev Vault, plain-HTTP Vault, "
        "SQLite under /tmp, well-known dev tokens, and a missing or plain-text (no TLS, "
        "not loopback) PRIVACY_SMTP_URL.",
    )
    data_dir: Path = Field(
        Path("./data"),
        description="Directory for the SQLite file and the embedded OpenBao (created 0700).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. "
        "Default: SQLite file privacy.db in the data directory.",
    )
    vault_addr: str | None = Field(
        None,
        description="Vault/OpenBao address. Unset: start an embedded OpenBao "
        "(single machine only).",
    )
    vault_token: SecretStr | None = Field(None, description="Vault token (or use AppRole).")
    vault_role_id: SecretStr | None = Field(None, description="AppRole role_id.")
    vault_secret_id: SecretStr | None = Field(None, description="AppRole secret_id.")
    vault_namespace: str | None = Field(None, description="Vault Enterprise namespace.")
    vault_mount: str = Field("transit", description="Mount path of the transit engine.")
    vault_ca_cert: str | None = Field(
        None, description="CA bundle to verify Vault's TLS certificate."
    )
    vault_timeout: float = Field(5.0, gt=0, description="Seconds per Vault call.")
    vault_retries: int = Field(2, ge=0, le=10, description="Retries on Vault connection errors.")
    embedded_vault_port: int = Field(
        8219, ge=1024, le=65534, description="Loopback port of the embedded OpenBao."
    )
    kek_name: str = Field(
        "privacy-kek", description="Transit key (derived) that wraps every subject DEK."
    )
    service_key_name: str = Field(
        "privacy-service",
        description="Transit key that wraps the service's own keys (blind index, token signing).",
    )
    receipt_key_name: str = Field(
        "privacy-receipts",
        description="Transit ed25519 key that signs consent receipts (created if missing).",
    )
    dek_cache_max_entries: int = Field(
        10_000, ge=0, description="Most unwrapped DEKs kept in memory."
    )
    dek_cache_max_age: float = Field(
        300.0, ge=0, description="Seconds an unwrapped DEK may stay cached."
    )
    dek_cache_max_uses: int = Field(
        1_000_000, ge=1, description="Uses of a cached DEK before it is unwrapped again."
    )
    access_token_ttl: int = Field(
        900, ge=60, le=3600, description="Lifetime of access tokens, seconds."
    )
    bcrypt_rounds: int = Field(12, ge=4, le=16, description="bcrypt cost for user passwords.")
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_value_bytes: int = Field(
        64 * 1024, ge=16, description="Largest single field value, in bytes of JSON."
    )
    max_record_bytes: int = Field(
        256 * 1024, ge=64, description="Largest record (all its values), in bytes of JSON."
    )
    auto_migrate: bool | None = Field(
        None,
        description="Apply migrations when the service starts. Default: on with SQLite, "
        "off with PostgreSQL (run `privacy migrate`).",
    )
    log_level: str = Field("INFO", description="Python log level.")
    audit_signing_key: str = Field(
        "privacy-audit-signing",
        description="Transit ed25519 key that signs audit seals (created if missing).",
    )
    audit_chain_interval: float = Field(
        1.0,
        ge=0,
        description="Seconds between rounds linking new audit entries into the hash chain "
        "(0: only on demand).",
    )
    audit_seal_interval: float = Field(
        300.0,
        ge=0,
        description="Seconds between automatic signed seals of the audit chain head "
        "(0: only on demand).",
    )
    audit_retention_days: int | None = Field(
        None,
        ge=1,
        description="Purge sealed audit-log segments older than this many days, keeping a "
        "signed anchor. Unset: keep the log forever.",
    )
    audit_monitor_window: float = Field(
        300.0, gt=0, description="Seconds over which refused logins and requests are counted."
    )
    audit_monitor_login_failures: int = Field(
        5, ge=1, description="Refused logins for one account within the window that raise an alert."
    )
    audit_monitor_ip_failures: int = Field(
        20,
        ge=1,
        description="Refused requests from one client IP within the window that raise an alert.",
    )
    audit_monitor_subjects_per_minute: int = Field(
        500,
        ge=1,
        description="Most distinct subjects one principal may read in 60 s before an alert.",
    )
    audit_monitor_rate_factor: float = Field(
        10.0,
        ge=0,
        description="Alert when a principal reads this many times its usual distinct "
        "subjects per minute (0: off).",
    )
    audit_monitor_suspend: bool = Field(
        False, description="Suspend an app or user that trips an unusual-access rule."
    )
    audit_alert_webhook_url: str | None = Field(
        None, description="URL that security alerts are POSTed to as JSON."
    )
    # Data-subject requests and subject sign-in (privacy.requests, privacy.subject_auth).
    smtp_url: SecretStr | None = Field(
        None,
        description="SMTP server for mail to data subjects: smtp://host:port (add "
        "?starttls=true) or smtps://user:password@host:port. Unset: in development, mail is "
        "written as .eml files to the outbox/ folder of the data directory.",
    )
    mail_from: str = Field(
        "Privacy Vault <privacy-vault@localhost>",
        description="From address of the sign-in codes mailed to data subjects.",
    )
    export_ttl_days: int = Field(
        7,
        ge=1,
        le=90,
        description="Days an access/portability export archive is kept for download "
        "before it is deleted.",
    )
    retention_file: Path | None = Field(
        None,
        description="TOML file of retention policies and legal holds (see DATA_RETENTION.md). "
        "Unset: the shipped defaults. A bad file stops the service at start.",
    )
    retention_batch_size: int = Field(
        2000,
        ge=1,
        le=10_000,
        description=(
            "Records purged per transaction (each batch gets one audit entry). On SQLite "
            "batches shrink, down to 100, while API requests wait for the database."
        ),
    )
    rewrap_batch_size: int = Field(
        500,
        ge=1,
        le=5000,
        description="Wrapped DEKs rewrapped and committed per transaction during a key "
        "rotation (sent to Vault in calls of at most 100).",
    )
    scheduler: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Run the scheduled jobs inside `privacy serve`. `auto`: only on the "
        "embedded default (one machine); with several replicas run `privacy worker` instead.",
    )
    retention_schedule: str | None = Field(
        "0 3 * * *",
        description="When the retention purge runs: a crontab line in UTC, or `every N` "
        "seconds. Empty: never (run `privacy retention purge`).",
    )
    key_rotation_schedule: str | None = Field(
        None,
        description="When the KEK is rotated and every DEK rewrapped (crontab line, UTC). "
        "Unset: only on demand (`privacy keys rotate`).",
    )
    report_schedule: str | None = Field(
        "0 5 1 * *",
        description="When the retention report and the record of processing are written to "
        "`$PRIVACY_DATA_DIR/reports/` (crontab line, UTC). Empty: never.",
    )
    # --- scheduled clean-ups of the erasure, webhook and auth domains (wiring) ---
    tombstone_replay_schedule: str | None = Field(
        "0 4 * * *",
        description="When erasure tombstones are replayed (subjects a database restore "
        "brought back are erased again; start-up does it too): crontab line (UTC) or "
        "`every N` seconds. Empty: only at start-up.",
    )
    hold_expiry_schedule: str | None = Field(
        "30 3 * * *",
        description="When erasures whose last legal hold ended are finished (held records "
        "and the DEK destroyed): crontab line (UTC) or `every N` seconds. Empty: never.",
    )
    webhook_retry_schedule: str | None = Field(
        "every 60",
        description="When due webhook deliveries are sent by the scheduler (besides the "
        "sender inside `privacy serve`; needed with `privacy worker`): crontab line (UTC) "
        "or `every N` seconds. Empty: never.",
    )
    auth_cleanup_schedule: str | None = Field(
        "every 3600",
        description="When expired IP blocks are deleted (sessions and revoked tokens follow "
        "the retention policies): crontab line (UTC) or `every N` seconds. Empty: never.",
    )

    # --- identity, tokens, abuse limits and transport (privacy.auth, privacy.security) ---
    refresh_token_ttl: int = Field(
        7 * 86400,
        ge=300,
        description="Absolute lifetime of a refresh-token family, seconds (rotation never "
        "extends it).",
    )
    password_min_length: int = Field(8, ge=8, le=128, description="Shortest password accepted.")
    password_require_upper: bool = Field(True, description="Passwords need an upper-case letter.")
    password_require_lower: bool = Field(True, description="Passwords need a lower-case letter.")
    password_require_digit: bool = Field(True, description="Passwords need a digit.")
    password_require_special: bool = Field(
        True, description="Passwords need a character that is neither a letter nor a digit."
    )
    password_reject_common: bool = Field(
        True,
        description="Refuse passwords from the common-password list (zxcvbn's 30,000 most "
        "used), also when only decorated with digits or symbols.",
    )
    mfa_required_roles: str = Field(
        "admin,dpo",
        description="Comma-separated roles that must enrol TOTP; until they do, their tokens "
        "can only enrol.",
    )
    totp_issuer: str = Field("Privacy Vault", description="Issuer shown in authenticator apps.")
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0) for rate-limit counters shared by "
        "replicas. Unset: counters in memory.",
    )
    login_rate_limit: str = Field(
        "5/15 minutes",
        description="Failed logins allowed per account and per client IP (limits notation).",
    )
    api_rate_limit: str = Field(
        "100/minute",
        description="Requests per principal (limits notation); an app's own `rate_limit` "
        "overrides it.",
    )
    ip_block_threshold: int = Field(
        10, ge=1, description="Rate-limit violations from one IP that get it blocked."
    )
    ip_block_window: int = Field(
        3600, ge=1, description="Seconds over which violations are counted for blocking."
    )
    ip_block_duration: int = Field(3600, ge=1, description="Seconds an IP block lasts.")
    ip_block_refresh: float = Field(
        5.0, ge=0, description="Seconds a replica caches the list of blocked IPs."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto are believed. Empty: none.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser. "
        "Empty: no cross-origin access.",
    )
    trusted_hosts: str = Field(
        "*", description="Comma-separated Host names the API answers to (`*`: any)."
    )
    session_idle_timeout: int = Field(
        86400, ge=60, description="Browser sessions end after this many idle seconds."
    )
    session_max_age: int = Field(
        7 * 86400, ge=60, description="Absolute lifetime of a browser session, seconds."
    )

    @staticmethod
    def split(value: str) -> list[str]:
        """A comma-separated setting as a list of its non-empty items."""
        return [item.strip() for item in value.split(",") if item.strip()]

    # --- erasure and Art. 19 notifications (privacy/erasure, privacy/webhooks) ---
    backup_retention_days: int = Field(
        30,
        ge=0,
        description="Days your database backups are kept: an erasure receipt states that "
        "backups may hold the erased data until this long after the erasure.",
    )
    tombstone_mount: str = Field(
        "privacy-tombstones",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Vault/OpenBao KV v2 mount holding erasure tombstones (outside the "
        "database, so a restore cannot roll them back).",
    )
    erasure_batch_size: int = Field(
        500, ge=1, le=5000, description="Records deleted per committed batch during an erasure."
    )
    webhook_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to wait for an app's webhook endpoint."
    )
    webhook_max_attempts: int = Field(
        10, ge=1, le=50, description="Delivery attempts per webhook before it is marked failed."
    )
    webhook_retry_base: float = Field(
        30.0,
        gt=0,
        description="Seconds before the first webhook retry; doubles after each failure "
        "(capped at 6 hours).",
    )

    @property
    def embedded_vault(self) -> bool:
        return not self.vault_addr

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'privacy.db').resolve()}"

    @property
    def runs_scheduler(self) -> bool:
        """Whether `privacy serve` runs the scheduled jobs itself."""
        return self.scheduler == "on" or (self.scheduler == "auto" and self.embedded_vault)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.vault_addr and not (
            self.vault_token or (self.vault_role_id and self.vault_secret_id)
        ):
            raise ValueError(
                "PRIVACY_VAULT_ADDR is set but no credentials: set PRIVACY_VAULT_TOKEN "
                "or PRIVACY_VAULT_ROLE_ID and PRIVACY_VAULT_SECRET_ID"
            )
        for name in (
            "retention_schedule",
            "key_rotation_schedule",
            "report_schedule",
            "tombstone_replay_schedule",
            "hold_expiry_schedule",
            "webhook_retry_schedule",
            "auth_cleanup_schedule",
        ):
            _check_schedule(name, getattr(self, name))
        if self.smtp_url is not None:
            mail = urlparse(self.smtp_url.get_secret_value())
            if mail.scheme not in ("smtp", "smtps") or not mail.hostname:
                raise ValueError("PRIVACY_SMTP_URL must look like smtp://host:port or smtps://...")
        if self.env == "production":
            self._enforce_production()
        self._check_security()
        return self

    def _check_security(self) -> None:
        import ipaddress

        from limits import parse

        for name in ("login_rate_limit", "api_rate_limit"):
            try:
                parse(getattr(self, name))
            except ValueError:
                raise ValueError(
                    f"PRIVACY_{name.upper()} is not a rate limit such as 100/minute"
                ) from None
        for net in self.split(self.trusted_proxies):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"PRIVACY_TRUSTED_PROXIES: {net!r} is not an IP or CIDR") from None

    def _enforce_production(self) -> None:
        problems = []
        if self.embedded_vault:
            problems.append(
                "the embedded OpenBao keeps its unseal key on this machine: "
                "set PRIVACY_VAULT_ADDR to your Vault/OpenBao cluster"
            )
        else:
            parsed = urlparse(self.vault_addr or "")
            if parsed.scheme != "https" and parsed.hostname not in _LOOPBACK_HOSTS:
                problems.append("PRIVACY_VAULT_ADDR must use https outside loopback")
        token = self.vault_token.get_secret_value() if self.vault_token else None
        if token and (token in _WELL_KNOWN_DEV_TOKENS or len(token) < 16):
            problems.append("PRIVACY_VAULT_TOKEN looks like a dev token")
        hook = urlparse(self.audit_alert_webhook_url or "https://unset")
        if hook.scheme != "https" and hook.hostname not in _LOOPBACK_HOSTS:
            problems.append("PRIVACY_AUDIT_ALERT_WEBHOOK_URL must use https outside loopback")
        if self.smtp_url is None:
            problems.append("PRIVACY_SMTP_URL is required: data subjects sign in with mailed codes")
        else:
            mail = urlparse(self.smtp_url.get_secret_value())
            starttls = parse_qs(mail.query).get("starttls", [""])[0].lower() in ("1", "true", "yes")
            if mail.scheme == "smtp" and not starttls and mail.hostname not in _LOOPBACK_HOSTS:
                problems.append(
                    "PRIVACY_SMTP_URL must use smtps:// or ?starttls=true outside loopback "
                    "(sign-in codes would cross the network in clear)"
                )
        url = self.effective_database_url
        if url.startswith("sqlite") and ("/tmp/" in url or ":memory:" in url):  # noqa: S108
            problems.append("the database must not live in /tmp or in memory")
        if problems:
            raise ValueError("production settings refused: " + "; ".join(problems))


def _check_schedule(name: str, value: str | None) -> None:
    """A schedule is a crontab line (UTC) or `every N` seconds; refuse anything else at start."""
    if not value:
        return
    if value.startswith("every "):
        try:
            ok = float(value.removeprefix("every ").rstrip("s")) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"PRIVACY_{name.upper()}: `every N` needs a positive number of seconds"
            )
        return
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ValueError(f"PRIVACY_{name.upper()}: not a crontab line ({exc})") from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
