"""Alembic, run from code: ``feedd db upgrade`` and start-up call ``upgrade(engine)``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from feedd.errors import StorageError
from feedd.store.db import MIGRATION_LOCK, begin_write, storage_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already.

    Safe to run from several processes at once: the whole upgrade is one transaction that holds
    a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so the second process waits,
    then finds the schema at head and does nothing.
    """
    config = _config()
    with storage_errors(engine), begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        # env.py runs the migrations on this connection, inside this transaction.
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StorageError(
                f"Cannot upgrade the database schema of {_safe(engine)}: {exc}; "
                "was it created by a newer feedd?"
            ) from exc


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at, or ``None`` for an empty database."""
    with storage_errors(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest schema revision this version of feedd knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise StorageError(f"No migrations found in {MIGRATIONS}; the installation is broken")
    return head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _safe(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
