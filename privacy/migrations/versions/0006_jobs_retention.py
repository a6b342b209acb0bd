"""job runs and the retention purge log

Revision ID: 0006_jobs_retention
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import privacy.db

revision: str = "0006_jobs_retention"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = privacy.db.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", _str(length=63), nullable=False),
        sa.Column("started_by", _str(length=16), nullable=False),
        sa.Column("started_at", _time, nullable=False),
        sa.Column("finished_at", _time, nullable=True),
        sa.Column("outcome", _str(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", _str(length=500), nullable=True),
        sa.Column("host", _str(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_runs_job_started", "job_runs", ["job", "started_at"])
    op.create_table(
        "retention_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", _str(length=63), nullable=False),
        sa.Column("action", _str(length=32), nullable=False),
        sa.Column("collection", _str(length=63), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("at", _time, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_purges_policy_at", "retention_purges", ["policy_id", "at"])
    # Purge candidates are found by collection and age.
    op.create_index("ix_records_collection_created", "records", ["collection", "created_at"])
    op.create_index("ix_records_collection_updated", "records", ["collection", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_records_collection_updated", table_name="records")
    op.drop_index("ix_records_collection_created", table_name="records")
    op.drop_index("ix_retention_purges_policy_at", table_name="retention_purges")
    op.drop_table("retention_purges")
    op.drop_index("ix_job_runs_job_started", table_name="job_runs")
    op.drop_table("job_runs")
