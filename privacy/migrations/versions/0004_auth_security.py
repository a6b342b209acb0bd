"""refresh tokens, access-token deny-list, MFA, browser sessions, app limits, IP blocks

Revision ID: 0004_auth_security
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import privacy.db

revision: str = "0004_auth_security"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = privacy.db.UtcDateTime(timezone=True)


def _user_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", _str(length=200), nullable=True))
        batch.add_column(
            sa.Column("mfa_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("rate_limit", _str(length=64), nullable=True))
        batch.add_column(sa.Column("secret_rotated_at", _time, nullable=True))
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("mfa", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.Column("used_at", _time, nullable=True),
        sa.Column("revoked_at", _time, nullable=True),
        _user_fk(),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", _str(length=64), nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("code_hash", _str(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("used_at", _time, nullable=True),
        _user_fk(),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index("ix_mfa_recovery_codes_user_id", "mfa_recovery_codes", ["user_id"])
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", _str(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("csrf_hash", _str(length=64), nullable=False),
        sa.Column("mfa", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("last_seen_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        _user_fk(),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_browser_sessions_user_id", "browser_sessions", ["user_id"])
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])
    op.create_table(
        "ip_blocks",
        sa.Column("ip", _str(length=64), nullable=False),
        sa.Column("reason", _str(length=200), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.PrimaryKeyConstraint("ip"),
    )
    op.create_index("ix_ip_blocks_expires_at", "ip_blocks", ["expires_at"])


def downgrade() -> None:
    for table in ("ip_blocks", "browser_sessions", "mfa_recovery_codes", "revoked_tokens"):
        op.drop_table(table)
    op.drop_table("refresh_tokens")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("secret_rotated_at")
        batch.drop_column("rate_limit")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("mfa_enabled")
        batch.drop_column("totp_secret")
