"""Apply Alembic migrations programmatically (used by `privacy migrate` and at start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    # "heads": domains add migrations on their own branches off the initial schema; all
    # of them are applied (Alembic orders them by their dependencies).
    command.upgrade(alembic_config(engine), revision)
