"""Shared fixtures: the example dumps, and a fresh database per test on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
SHARED_DUMPS = REPO.parent / "shared" / "dumps"
DATA = Path(__file__).resolve().parent / "data"

POSTGRES_URL = os.environ.get("FEEDD_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def example_dumps() -> list[Path]:
    dumps = sorted(SHARED_DUMPS.glob("*.txt"))
    if len(dumps) != 5:
        pytest.fail(f"expected the five example dumps in {SHARED_DUMPS}, found {len(dumps)}")
    return dumps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _fresh_postgres_database() -> Iterator[str]:
    """Create an empty database for one test and drop it afterwards."""
    if not POSTGRES_URL:
        pytest.skip("FEEDD_TEST_POSTGRES_URL is not set; PostgreSQL tests skipped")
    name = f"feedd_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a real SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedd.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start aiosmtpd on 127.0.0.1: ``serve(handler, **smtp_kwargs) -> port``; stopped after."""
    controllers: list[Controller] = []

    def start(handler: object, **kwargs: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()
