"""data-subject requests, export archives, subject sign-in codes and sessions

Revision ID: 0005_requests
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import privacy.db

revision: str = "0005_requests"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = privacy.db.UtcDateTime(timezone=True)
_OPEN = sa.text("status IN ('received', 'identity_verified', 'in_progress')")


def upgrade() -> None:
    op.create_table(
        "dsr_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("type", _str(length=16), nullable=False),
        sa.Column("status", _str(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("sealed_changes", sa.LargeBinary(), nullable=True),
        sa.Column("filed_by", _str(length=100), nullable=False),
        sa.Column("received_at", _time, nullable=False),
        sa.Column("due_at", _time, nullable=False),
        sa.Column("extended_until", _time, nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("identity_verified_at", _time, nullable=True),
        sa.Column("identity_method", _str(length=32), nullable=True),
        sa.Column("completed_at", _time, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("updated_at", _time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dsr_requests_subject_id", "dsr_requests", ["subject_id"])
    op.create_index("ix_dsr_requests_filed_by", "dsr_requests", ["filed_by"])
    op.create_index("ix_dsr_requests_status_due", "dsr_requests", ["status", "due_at"])
    op.create_index(
        "uq_dsr_requests_open",
        "dsr_requests",
        ["subject_id", "type"],
        unique=True,
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_table(
        "dsr_exports",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", _str(length=100), nullable=False),
        sa.Column("wrapped_key", _str(length=1000), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.Column("deleted_at", _time, nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["dsr_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_dsr_exports_subject_id", "dsr_exports", ["subject_id"])
    op.create_index("ix_dsr_exports_expires_at", "dsr_exports", ["expires_at"])
    op.create_table(
        "subject_signin_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_index", _str(length=64), nullable=False),
        sa.Column("code_hash", _str(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.Column("used_at", _time, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subject_signin_codes_email_index", "subject_signin_codes", ["email_index"])
    op.create_table(
        "subject_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_index", _str(length=64), nullable=False),
        sa.Column("subject_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("expires_at", _time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subject_sessions_expires_at", "subject_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("subject_sessions")
    op.drop_index("ix_subject_signin_codes_email_index", table_name="subject_signin_codes")
    op.drop_table("subject_signin_codes")
    op.drop_table("dsr_exports")
    op.drop_index("uq_dsr_requests_open", table_name="dsr_requests")
    op.drop_index("ix_dsr_requests_status_due", table_name="dsr_requests")
    op.drop_index("ix_dsr_requests_filed_by", table_name="dsr_requests")
    op.drop_index("ix_dsr_requests_subject_id", table_name="dsr_requests")
    op.drop_table("dsr_requests")
