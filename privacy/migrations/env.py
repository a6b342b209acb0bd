"""Alembic environment: runs against the engine handed over by privacy.migrations.run."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from privacy.models import metadata

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is None:
        from privacy.config import get_settings
        from privacy.db import make_engine

        engine = make_engine(get_settings().effective_database_url)
    return engine


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
