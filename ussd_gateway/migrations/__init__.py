"""Alembic migrations, run programmatically (``Database.upgrade``); no alembic.ini needed.

A new revision, after changing ``ussd_gateway.store.models``::

    from alembic import command
    from ussd_gateway.migrations import alembic_config
    config = alembic_config("sqlite+aiosqlite:////tmp/head.db")
    command.upgrade(config, "head")
    command.revision(config, "what changed", autogenerate=True, rev_id="0003")

then review the generated file: use ``sa.DateTime()`` for ``UtcDateTime`` columns.
``tests/test_store_database.py`` checks that the migrations match the models.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    return config
