"""Alembic environment for feedd.

``feedd.store.upgrade`` passes an open connection (already in a locked transaction) through
``config.attributes["connection"]``. Developers may also run the ``alembic`` command in this
folder; it then connects to ``$FEEDD_STORAGE__DATABASE_URL`` or the ini's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from feedd.store.db import begin_write, make_engine
from feedd.store.models import autogenerate_include, metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=autogenerate_include,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = os.environ.get("FEEDD_STORAGE__DATABASE_URL") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("set FEEDD_STORAGE__DATABASE_URL or sqlalchemy.url in alembic.ini")
    return url


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif context.is_offline_mode():
        context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = make_engine(_url())
        try:
            with begin_write(engine) as conn:
                _run(conn)
        finally:
            engine.dispose()


_main()
