"""feedd.store: engines, migrations, errors and time zones, on real SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedd.errors import StorageError
from feedd.store import (
    DumpInfo,
    begin_write,
    count_papers,
    current_revision,
    find_ingested_dump,
    head_revision,
    list_dumps,
    make_engine,
    record_dump,
    upgrade,
)
from feedd.store.models import autogenerate_include, metadata


@pytest.fixture
def bare_engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _info(name: str = "a.txt", sha: str = "a" * 64, received: datetime | None = None) -> DumpInfo:
    return DumpInfo(
        name=name,
        sha256=sha,
        size=10,
        received_at=received or datetime.now(UTC),
        reference_date=date(2024, 6, 6),
    )


def test_upgrade_creates_the_schema(bare_engine: sa.Engine) -> None:
    assert current_revision(bare_engine) is None
    upgrade(bare_engine)
    assert current_revision(bare_engine) == head_revision() == "0006"
    tables = set(sa.inspect(bare_engine).get_table_names())
    assert {
        "papers",
        "dumps",
        "paper_dumps",
        "subscriptions",
        "matches",
        "deliveries",
        "digest_windows",
        "email_recipients",
        "alert_state",
        "alembic_version",
    } <= tables
    assert count_papers(bare_engine) == 0


def test_upgrade_twice_is_a_no_op(bare_engine: sa.Engine) -> None:
    upgrade(bare_engine)
    record_dump(bare_engine, _info(), status="rejected", error="empty file")
    upgrade(bare_engine)
    assert current_revision(bare_engine) == head_revision()
    assert [d.name for d in list_dumps(bare_engine)] == ["a.txt"]


def test_concurrent_upgrades_both_succeed(database_url: str) -> None:
    engines = [make_engine(database_url), make_engine(database_url)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine: sa.Engine) -> None:
        start.wait()
        try:
            upgrade(engine)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert all(current_revision(engine) == head_revision() for engine in engines)
    finally:
        for engine in engines:
            engine.dispose()


def test_sqlite_engine_settings_and_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deeper" / "feedd.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.exists()
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
        assert pragma == {
            "journal_mode": "wal",
            "busy_timeout": 30000,
            "foreign_keys": 1,
            "synchronous": 1,
        }
    finally:
        engine.dispose()


def test_sqlite_writers_lock_up_front_and_readers_never_wait(tmp_path: Path) -> None:
    path = tmp_path / "feedd.db"
    engine = make_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        upgrade(engine)
        with begin_write(engine) as conn:
            # Nothing written yet, yet the lock is held: BEGIN IMMEDIATE took it.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            conn.execute(sa.text("DELETE FROM dumps"))
            # A plain read (deferred BEGIN, WAL snapshot) does not wait for the writer.
            assert count_papers(engine) == 0
    finally:
        other.close()
        engine.dispose()


def test_unreachable_postgres_is_a_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        make_engine("postgresql+psycopg://feedd:s3cret@127.0.0.1:1/feedd")
    message = str(caught.value)
    assert "s3cret" not in message
    assert "***" in message
    assert "\n" not in message
    assert "database_url" in message


@pytest.mark.parametrize(
    "url",
    ["not a url at all", "mysql://feedd:s3cret@localhost/feedd", "postgresql+asyncpg://x@h/d"],
)
def test_unsupported_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        make_engine(url)
    assert "s3cret" not in str(caught.value)


def test_plain_postgresql_url_uses_psycopg(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    engine = make_engine(database_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()


def test_sqlite_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="Cannot create the folder"):
        make_engine(f"sqlite:///{blocker / 'feedd.db'}")


def test_missing_schema_says_to_upgrade(bare_engine: sa.Engine) -> None:
    with pytest.raises(StorageError, match="feedd db upgrade"):
        count_papers(bare_engine)


def test_timezone_aware_times_round_trip(bare_engine: sa.Engine) -> None:
    upgrade(bare_engine)
    local = datetime(2024, 6, 6, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    record_dump(bare_engine, _info(received=local), status="duplicate")
    (dump,) = list_dumps(bare_engine)
    assert dump.received_at == local
    assert dump.received_at.tzinfo is UTC
    assert dump.received_at.hour == 7
    assert dump.finished_at is not None
    assert dump.finished_at.tzinfo is UTC


def test_naive_times_are_refused(bare_engine: sa.Engine) -> None:
    upgrade(bare_engine)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        record_dump(bare_engine, _info(received=datetime(2024, 6, 6, 9, 30)), status="rejected")


def test_record_dump_rows_and_ingested_lookup(bare_engine: sa.Engine) -> None:
    upgrade(bare_engine)
    outcome = record_dump(
        bare_engine, _info(name="bad.bin"), status="rejected", error="binary data", format=None
    )
    assert outcome.status == "rejected"
    assert outcome.error == "binary data"
    assert outcome.papers_total == 0
    (dump,) = list_dumps(bare_engine)
    assert (dump.id, dump.name, dump.status, dump.error) == (
        outcome.dump_id,
        "bad.bin",
        "rejected",
        "binary data",
    )
    # Rejected and duplicate rows never count as "already ingested".
    assert find_ingested_dump(bare_engine, "a" * 64) is None
    with pytest.raises(ValueError, match="not 'ingested'"):
        record_dump(bare_engine, _info(), status="ingested")


def test_models_match_the_migrations(bare_engine: sa.Engine) -> None:
    upgrade(bare_engine)

    with bare_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": autogenerate_include}
        )
        assert compare_metadata(context, metadata) == []
    # The one index the comparison skips (see autogenerate_include).
    indexes = {index["name"] for index in sa.inspect(bare_engine).get_indexes("papers")}
    assert "ix_papers_newest" in indexes
