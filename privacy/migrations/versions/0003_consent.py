"""consent ledger, consent state, restriction and objection

Revision ID: 0003_consent
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import privacy.db

revision: str = "0003_consent"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = privacy.db.UtcDateTime(timezone=True)


def _subject_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("purpose", _str(length=63), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", _str(length=32), nullable=False),
        sa.Column("source", _str(length=16), nullable=False),
        sa.Column("text_hash", _str(length=64), nullable=True),
        sa.Column("actor", _str(length=100), nullable=False),
        sa.Column("at", _time, nullable=False),
        sa.Column("prev_hash", _str(length=64), nullable=False),
        sa.Column("hash", _str(length=64), nullable=False),
        _subject_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "seq", name="uq_consent_events_subject_seq"),
    )
    op.create_index("ix_consent_events_subject_id", "consent_events", ["subject_id"])
    op.create_table(
        "consent_texts",
        sa.Column("hash", _str(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_table(
        "consent_state",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", _str(length=63), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", _str(length=32), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", _time, nullable=False),
        _subject_fk(),
        sa.PrimaryKeyConstraint("subject_id", "purpose"),
    )
    op.create_table(
        "subject_restrictions",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("ground", _str(length=32), nullable=False),
        sa.Column("updated_by", _str(length=100), nullable=False),
        sa.Column("updated_at", _time, nullable=False),
        _subject_fk(),
        sa.PrimaryKeyConstraint("subject_id"),
    )
    op.create_table(
        "subject_objections",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", _str(length=63), nullable=False),
        sa.Column("objected", sa.Boolean(), nullable=False),
        sa.Column("updated_by", _str(length=100), nullable=False),
        sa.Column("updated_at", _time, nullable=False),
        _subject_fk(),
        sa.PrimaryKeyConstraint("subject_id", "purpose"),
    )


def downgrade() -> None:
    op.drop_table("subject_objections")
    op.drop_table("subject_restrictions")
    op.drop_table("consent_state")
    op.drop_table("consent_texts")
    op.drop_index("ix_consent_events_subject_id", table_name="consent_events")
    op.drop_table("consent_events")
