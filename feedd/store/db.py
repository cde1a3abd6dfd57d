"""Engines, write transactions, and turning database failures into ``StorageError``."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from feedd.errors import StorageError

# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE (see _sqlite_begin).
WRITE_OPTION = "feedd_write"

# pg_advisory_xact_lock keys; any constant bigint works as long as nobody else uses it.
MIGRATION_LOCK = 0x66656564_0001  # "feed" + 1
INGEST_LOCK = 0x66656564_0002

_SQLITE_PRAGMAS = (
    "busy_timeout = 30000",
    # No checkpoint inside a writer's commit: copying a large dump's WAL back into the database
    # cost ~20% of an ingest. ``checkpoint()`` does it instead, off the ingest path (the daemon
    # on a thread of its own, the CLI on its way out).
    "wal_autocheckpoint = 0",
    # After a checkpoint the log starts over; cut the file back so one large dump does not leave
    # a few hundred MB of WAL on disk for good.
    "journal_size_limit = 67108864",
    # Only a new, empty database takes it (before WAL is switched on), later it is a no-op.
    # Papers are ~2 kB rows written in bulk: 16 kB pages store them ~30% faster than 4 kB
    # (measured: 100,000 rows with 1.7 kB abstracts, 68k -> 87-98k rows/s in raw sqlite3).
    "page_size = 16384",
    "journal_mode = WAL",
    "synchronous = NORMAL",
    "foreign_keys = ON",
    # 16 MB instead of 2 MB: a large dump inserts keys in random order into ~10 MB of indexes;
    # measured +15-20% papers/s on the 100,000-entry benchmark, for ~15 MB more memory.
    "cache_size = -16384",
)
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def make_engine(url: str) -> sa.Engine:
    """An engine for ``sqlite:///PATH`` or ``postgresql+psycopg://…``, checked by connecting."""
    parsed = _parse_url(url)
    if parsed.drivername in _SQLITE_DRIVERS:
        engine = _sqlite_engine(parsed)
    else:
        engine = _postgres_engine(parsed)
    try:
        with storage_errors(engine), engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except StorageError:
        engine.dispose()
        raise
    return engine


@contextmanager
def begin_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that will write: on SQLite it holds the write lock from the
    start, so it never fails half-way with "database is locked" when a reader upgrades to a writer.
    """
    with _writer_lock(engine), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


_WRITER_LOCKS: dict[int, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: sa.Engine) -> threading.Lock | contextlib.nullcontext[None]:
    """SQLite has one writer at a time. Threads of one process queue here, where the next one
    wakes the moment the lock is free, instead of in SQLite's busy handler, which sleeps up to
    100 ms between tries (it cost the delivery workers 20x their throughput)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(id(engine), threading.Lock())


def lock_ingest(conn: sa.Connection) -> None:
    """Serialise ingests so one dump's pre-select of existing papers stays exact until commit.

    SQLite already is serialised by BEGIN IMMEDIATE; PostgreSQL takes a transaction-level
    advisory lock, released by the commit or rollback.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(INGEST_LOCK)))


@contextmanager
def storage_errors(engine: sa.Engine) -> Iterator[None]:
    """Re-raise "cannot reach / open / use the database" failures as one-line ``StorageError``s."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StorageError(describe_failure(engine.url, exc)) from exc
    except sa.exc.ProgrammingError as exc:
        # PostgreSQL reports a missing table as a programming error; any other one is a bug.
        if "does not exist" not in str(exc.orig):
            raise
        raise StorageError(describe_failure(engine.url, exc)) from exc
    except sa.exc.TimeoutError as exc:
        raise StorageError(
            f"Timed out waiting for a connection to {_safe(engine.url)}; "
            "check for a stuck feedd process or raise the pool size"
        ) from exc


def describe_failure(url: sa.URL, exc: BaseException) -> str:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        hint = "the schema is missing or out of date: run `feedd db upgrade`"
    elif url.get_backend_name() == "sqlite":
        hint = "check that the file's folder exists and feedd may write to it"
    else:
        hint = "check that the server is running and reachable, and the user, password and database"
    return f"Database {_safe(url)} failed: {first}; {hint} ([storage] database_url)"


def _safe(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _parse_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        # Do not echo the text: a mistyped URL may still contain a password.
        raise StorageError(
            "[storage] database_url is not a database URL; expected sqlite:///PATH "
            "or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
        ) from None
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed
    raise StorageError(
        f"[storage] database_url {_safe(parsed)} uses {parsed.drivername!r}; feedd supports "
        "sqlite:///PATH and postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
    )


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"Cannot create the folder {folder} for {_safe(url)}: {exc.strerror}; "
                "check the path and permissions ([storage] database_url)"
            ) from exc
    engine = sa.create_engine(url, connect_args={"timeout": 30})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Driver-level autocommit: pysqlite's own implicit BEGIN is always DEFERRED and is emitted
    # lazily; taking over lets _sqlite_begin choose, and makes DDL transactional for migrations.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def checkpoint(engine: sa.Engine) -> None:
    """Copy SQLite's write-ahead log back into the database file; nothing on PostgreSQL.

    PASSIVE: it never waits for readers or writers, and what it could not copy now (pages a
    reader still needs) it copies next time.
    """
    if engine.dialect.name != "sqlite":
        return
    with storage_errors(engine), engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        conn.rollback()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Writers take the lock up front (and wait up to busy_timeout for it); readers use a deferred
    # BEGIN, which in WAL mode reads a snapshot and never waits for a writer.
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_engine(url: sa.URL) -> sa.Engine:
    connect_args: dict[str, Any] = {"application_name": "feedd"}
    if "connect_timeout" not in url.query:
        # Fail in seconds, not after the OS's TCP timeout, when the server is unreachable.
        connect_args["connect_timeout"] = 10
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
