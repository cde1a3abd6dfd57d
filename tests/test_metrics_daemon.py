"""/metrics and /healthz of a real ``feedd run``: the counters equal what the test did, and a
database outage gives a metrics page with feedd_database_up 0 and a 503 naming the database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, _fresh_postgres_database
from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_cli import distinct_keys
from tests.test_daemon import KD_SUBSCRIPTION, Daemon
from tests.test_deliveries import KD, SECRET, Receiver
from tests.test_metrics import Samples, parse, value

pytestmark = pytest.mark.slow

WEBHOOK_SETTINGS = (
    '[delivery]\nallow_private_targets = true\nretry_schedule = ["0.3s"]\n'
    '[webhooks.hook]\nurl = "{url}"\nsecret = "{secret}"\ntimeout_seconds = 5\n'
    '[[subscriptions]]\nname = "kd"\nquery = \'"knowledge distillation"\'\nwebhooks = ["hook"]\n'
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def scrape(daemon: Daemon) -> Samples:
    response = httpx.get(f"{daemon.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.content)


def query(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def test_the_counters_are_what_the_daemon_did(
    tmp_path: Path, database_url: str, example_dumps: list[Path], receiver: Receiver
) -> None:
    daemon = Daemon(
        tmp_path, database_url, WEBHOOK_SETTINGS.format(url=receiver.url, secret=SECRET)
    )
    daemon.start()
    try:
        for dump in example_dumps:
            shutil.copy(dump, daemon.inbox / dump.name)
        archived = sorted(d.name for d in example_dumps)
        wait_for(lambda: daemon.folder("archive") == archived, timeout=60)
        shutil.copy(example_dumps[0], daemon.inbox / "again.txt")  # the same bytes: duplicate
        (daemon.inbox / "empty.txt").write_bytes(b"")  # rejected
        staged = tmp_path / "kd.staged"
        staged.write_text(
            HEADER
            + "byAK and the research community\n\nOct 28\n\n"
            + entry("Tiny Students", KD)
            + entry("Small Teachers", KD)
        )
        staged.rename(daemon.inbox / "kd.txt")
        wait_for(lambda: daemon.inbox_files() == [], timeout=30)
        wait_for(lambda: "empty.txt" in daemon.folder("rejected"), timeout=10)

        # Every delivery the receiver saw is recorded as sent, and nothing is left to send.
        def settled() -> Samples | None:
            samples = scrape(daemon)
            sent = value(samples, "feedd_deliveries", status="sent", channel="webhook")
            done = value(samples, "feedd_outbox_depth") == 0 and sent == len(receiver.calls)
            return samples if done and sent > 0 else None

        samples = wait_for(settled, timeout=30)
        health = httpx.get(f"{daemon.url}/healthz", timeout=10)
    finally:
        assert daemon.stop() == 0
        print("".join(daemon.lines))

    assert value(samples, "feedd_database_up") == 1
    assert value(samples, "feedd_dumps_total", status="ingested") == 6
    assert value(samples, "feedd_dumps_total", status="duplicate") == 1
    assert value(samples, "feedd_dumps_total", status="rejected") == 1
    papers = query(database_url, "SELECT count(*) FROM papers")[0][0]
    assert value(samples, "feedd_papers") == papers == len(distinct_keys(example_dumps)) + 2
    matches = query(database_url, "SELECT count(*) FROM matches")[0][0]
    assert value(samples, "feedd_matches_total", backfill="false") == matches
    assert value(samples, "feedd_matches_total", backfill="true") == 0
    sent = len(set(receiver.ids))
    assert sent == len(receiver.calls)  # each delivery once: no retries were needed
    assert value(samples, "feedd_deliveries", status="sent", channel="webhook") == sent
    for status in ("pending", "sending", "dead"):
        assert value(samples, "feedd_deliveries", status=status, channel="webhook") == 0
    # One process sent them all, so its latency histogram saw every one.
    count = "feedd_delivery_latency_seconds_count"
    assert value(samples, count, channel="webhook") == sent
    assert value(samples, "feedd_delivery_latency_seconds_sum", channel="webhook") > 0
    [(finished,)] = query(
        database_url, "SELECT max(finished_at) FROM dumps WHERE status = 'ingested'"
    )
    last = value(samples, "feedd_last_ingest_timestamp_seconds")
    assert finished is not None
    assert abs(last - _epoch(finished)) < 0.001
    assert health.status_code == 200
    assert health.json()["ok"] is True
    assert health.json()["failing"] == []


def _epoch(stored: object) -> float:
    """max(finished_at) as read raw: a datetime on PostgreSQL, text (UTC) on SQLite."""
    if isinstance(stored, str):
        return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()
    assert isinstance(stored, datetime)
    return stored.timestamp()


def _when_up(samples: Samples) -> Samples | None:
    return samples if value(samples, "feedd_database_up") == 1 else None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_postgres_database()


@pytest.mark.postgres
def test_a_database_outage_gives_a_page_and_a_503_naming_it(
    tmp_path: Path, postgres_url: str, example_dumps: list[Path]
) -> None:
    daemon = Daemon(tmp_path, postgres_url, KD_SUBSCRIPTION)
    daemon.start()
    name = sa.make_url(postgres_url).database
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        shutil.copy(example_dumps[0], daemon.inbox / example_dumps[0].name)
        wait_for(lambda: daemon.folder("archive") == [example_dumps[0].name], timeout=30)
        assert value(scrape(daemon), "feedd_dumps_total", status="ingested") == 1

        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        down = scrape(daemon)
        assert value(down, "feedd_database_up") == 0
        assert "feedd_dumps_total" not in {n for n, _ in down}
        assert "process_resident_memory_bytes" in {n for n, _ in down}
        health = httpx.get(f"{daemon.url}/healthz", timeout=10)
        assert health.status_code == 503
        assert "database" in health.json()["failing"]
        assert "not currently accepting connections" in health.json()["database"]["error"]
        assert daemon.logged("Unable to read the metrics from the database") == 1

        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        back = wait_for(lambda: _when_up(scrape(daemon)), timeout=20)
        assert value(back, "feedd_dumps_total", status="ingested") == 1
        wait_for(lambda: httpx.get(f"{daemon.url}/healthz", timeout=10).status_code == 200)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        code = daemon.stop()
        print("".join(daemon.lines))
    assert code == 0
