"""audit chain: entry positions, hashes and MACs; signed checkpoints

Revision ID: 0002_audit_chain
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import privacy.db

revision: str = "0002_audit_chain"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Entries written before this revision keep a NULL mac: verification accepts that only
    # before the first entry that has one (see privacy.audit.chain.Head).
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", _BIGINT, nullable=True))
        batch_op.add_column(
            sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("mac", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index("ix_audit_log_seq", ["seq"], unique=True)
        batch_op.create_index(
            "ix_audit_log_unchained",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    op.create_table(
        "audit_checkpoints",
        sa.Column("number", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("seq", _BIGINT, nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("count", _BIGINT, nullable=False),
        sa.Column("at", privacy.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("prev", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_unchained")
        batch_op.drop_index("ix_audit_log_seq")
        batch_op.drop_column("mac")
        batch_op.drop_column("hash")
        batch_op.drop_column("seq")
