"""indexes for deleting in bulk: records by subject first; no blind-index subject index

- `records (collection, subject_id)` becomes `records (subject_id, collection)`. Every
  read by subject gives both columns, so it serves them as before, and now it also
  serves the ON DELETE CASCADE from `subjects`: SQLite needs the child key leftmost in an
  index, and without it scanned the whole of `records` for each subject deleted.
- `blind_index (subject_id)` is dropped: no query uses it (erasure and purge find blind
  rows by record_id), and every record deleted or written paid for one more random page.

Revision ID: 0021_purge_indexes
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_purge_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_records_subject_collection", "records", ["subject_id", "collection"])
    op.drop_index("ix_records_collection_subject", table_name="records")
    op.drop_index("ix_blind_index_subject_id", table_name="blind_index")


def downgrade() -> None:
    op.create_index("ix_blind_index_subject_id", "blind_index", ["subject_id"])
    op.create_index("ix_records_collection_subject", "records", ["collection", "subject_id"])
    op.drop_index("ix_records_subject_collection", table_name="records")
