"""/metrics on a plain store: the figures equal what is in the database, labels never carry an
address, and a database that fails or hangs gives a page with feedd_database_up 0."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from feedd import pipeline, store
from feedd.metrics import Metrics
from feedd.publish import FeedSettings, Server, create_app
from feedd.publish.database import DatabaseFeedSource
from feedd.publish.memory import MemoryFeedSource
from feedd.settings import SubscriptionSettings
from tests.dumpgen import HEADER, entry, write_dump

KD = "We compress a teacher into a student with knowledge distillation, carefully. " * 3
SETTINGS = FeedSettings(base_url="http://feeds.example", max_items=20)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(page: bytes) -> Samples:
    """Every sample of a page, through prometheus_client's own text-format parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(database_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """For what does not depend on the database: the in-process figures."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'feedd.db'}")
    store.upgrade(engine)
    yield engine
    engine.dispose()


def kd_dump(path: Path, *titles: str) -> Path:
    body = HEADER + "byAK and the research community\n\nOct 28\n\n"
    path.write_text(body + "".join(entry(title, KD) for title in titles))
    return path


def scalar(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_the_figures_are_what_the_database_holds(engine: sa.Engine, tmp_path: Path) -> None:
    # Back-filled matches: the subscription arrives after papers that match it.
    pipeline.ingest_file(engine, kd_dump(tmp_path / "early.txt", "Early Student"))
    subscription = SubscriptionSettings(
        name="kd",
        query='"knowledge distillation"',
        webhooks=["team"],
        email_to=["alice@example.org"],
    )
    matcher = pipeline.prepare_subscriptions(engine, [subscription])
    ingest = lambda path: pipeline.ingest_file(engine, path, subscriptions=matcher)  # noqa: E731
    ingest(kd_dump(tmp_path / "a.txt", "Tiny Students", "Small Teachers"))
    ingest(write_dump(tmp_path / "b.txt", 30, prefix="Unrelated paper"))
    ingest(kd_dump(tmp_path / "a-again.txt", "Tiny Students", "Small Teachers"))  # duplicate
    (tmp_path / "empty.txt").write_bytes(b"")
    ingest(tmp_path / "empty.txt")  # rejected
    # The outbox: two rows (webhook + e-mail) from a.txt; one more of a kind feedd does not know.
    with store.begin_write(engine) as conn:
        store.enqueue(conn, 1, ["carrier-pigeon:bob@loft.example"], [1], kind="test", now=NOW)
    later = NOW + timedelta(days=3650)  # every row is due
    [first] = store.claim_due(engine, now=later, limit=1, lease=timedelta(minutes=5))
    store.record_attempts(engine, [store.Attempt(first, later)])
    [second] = store.claim_due(engine, now=later, limit=1, lease=timedelta(minutes=5))
    store.record_attempts(engine, [store.Attempt(second, later, error="refused")])
    [third] = store.claim_due(engine, now=later, limit=1, lease=timedelta(hours=1))

    page = Metrics(engine, clock=lambda: later).render()
    samples = parse(page)

    assert value(samples, "feedd_database_up") == 1
    assert value(samples, "feedd_dumps_total", status="ingested") == 3
    assert value(samples, "feedd_dumps_total", status="duplicate") == 1
    assert value(samples, "feedd_dumps_total", status="rejected") == 1
    assert value(samples, "feedd_papers") == scalar(engine, "SELECT count(*) FROM papers") == 33
    assert value(samples, "feedd_matches_total", backfill="true") == 1
    assert value(samples, "feedd_matches_total", backfill="false") == 2
    expected = {
        (store.channel_kind(first.channel), "sent"),
        (store.channel_kind(second.channel), "dead"),
        (store.channel_kind(third.channel), "sending"),
    }
    assert {kind for kind, _ in expected} == {"webhook", "email", "other"}
    for (name, labels), count in samples.items():
        if name == "feedd_deliveries":
            pair = (dict(labels)["channel"], dict(labels)["status"])
            assert count == (1 if pair in expected else 0), pair
    assert value(samples, "feedd_outbox_depth") == 1  # the row being sent
    assert value(samples, "feedd_outbox_due") == 0  # ... whose lease still runs
    with engine.connect() as conn:
        finished = conn.execute(
            sa.select(sa.func.max(store.models.dumps.c.finished_at)).where(
                store.models.dumps.c.status == "ingested"
            )
        ).scalar_one()
    assert value(samples, "feedd_last_ingest_timestamp_seconds") == finished.timestamp()
    # Addresses and names stay out of the page: only the channel's kind is a label.
    for secret in (b"alice", b"example.org", b"team", b"bob", b"loft", b"pigeon"):
        assert secret not in page


def test_outbox_depth_and_due_follow_the_rows(engine: sa.Engine, tmp_path: Path) -> None:
    subscription = SubscriptionSettings(
        name="kd", query='"knowledge distillation"', webhooks=["a", "b", "c"]
    )
    matcher = pipeline.prepare_subscriptions(engine, [subscription])
    pipeline.ingest_file(engine, kd_dump(tmp_path / "a.txt", "Tiny"), subscriptions=matcher)
    later = datetime.now(UTC) + timedelta(seconds=1)
    [claimed] = store.claim_due(engine, now=later, limit=1, lease=timedelta(hours=1))
    [waiting] = store.claim_due(engine, now=later, limit=1, lease=timedelta(hours=1))
    retry_at = later + timedelta(hours=2)
    store.record_attempts(engine, [store.Attempt(waiting, later, error="503", retry_at=retry_at)])
    # One row sending (lease running), one pending later, one pending now.
    samples = parse(Metrics(engine, clock=lambda: later).render())
    assert value(samples, "feedd_outbox_depth") == 3
    assert value(samples, "feedd_outbox_due") == 1
    assert value(samples, "feedd_deliveries", status="sending", channel="webhook") == 1
    assert value(samples, "feedd_deliveries", status="pending", channel="webhook") == 2
    # Three hours on: the lease has lapsed and the retry is due, so all three are.
    samples = parse(Metrics(engine, clock=lambda: later + timedelta(hours=3)).render())
    assert value(samples, "feedd_outbox_due") == 3
    assert claimed.channel != waiting.channel


def test_an_empty_database_has_every_series_at_zero(engine: sa.Engine) -> None:
    samples = parse(Metrics(engine).render())
    for status in ("ingested", "duplicate", "rejected"):
        assert value(samples, "feedd_dumps_total", status=status) == 0
    assert value(samples, "feedd_papers") == 0
    for status in ("pending", "sending", "sent", "dead"):
        for kind in ("webhook", "email", "apprise"):
            assert value(samples, "feedd_deliveries", status=status, channel=kind) == 0
    assert "feedd_last_ingest_timestamp_seconds" not in names(samples)  # nothing ingested yet


def test_delivery_latency_is_observed_per_channel_kind(sqlite_engine: sa.Engine) -> None:
    metrics = Metrics(sqlite_engine)
    delivery = _delivery("email:alice@example.org")
    metrics.observe_delivery(delivery, NOW + timedelta(seconds=2))
    metrics.observe_delivery(delivery, NOW + timedelta(minutes=20))
    samples = parse(metrics.render())
    count = "feedd_delivery_latency_seconds_count"
    assert value(samples, count, channel="email") == 2
    assert value(samples, count, channel="webhook") == 0
    assert value(samples, "feedd_delivery_latency_seconds_sum", channel="email") == 1202
    bucket = "feedd_delivery_latency_seconds_bucket"
    assert value(samples, bucket, channel="email", le="2.5") == 1
    assert value(samples, bucket, channel="email", le="900.0") == 1
    assert value(samples, bucket, channel="email", le="3600.0") == 2


def test_the_page_describes_this_process(engine: sa.Engine) -> None:
    samples = parse(Metrics(engine).render())
    assert {"process_resident_memory_bytes", "process_start_time_seconds", "python_info"} <= (
        names(samples)
    )
    build = [labels for name, labels in samples if name == "feedd_build_info"]
    assert len(build) == 1
    assert dict(build[0])["database"] == engine.dialect.name
    assert value(samples, "feedd_scrape_duration_seconds") > 0


def test_two_apps_in_one_process_keep_their_own_figures(sqlite_engine: sa.Engine) -> None:
    # On prometheus_client's global registry the second would be refused (duplicate names).
    first, second = Metrics(sqlite_engine), Metrics(sqlite_engine)
    first.observe_delivery(_delivery("webhook:a"), NOW + timedelta(seconds=1))
    count = "feedd_delivery_latency_seconds_count"
    assert value(parse(first.render()), count, channel="webhook") == 1
    assert value(parse(second.render()), count, channel="webhook") == 0


def _delivery(channel: str) -> store.Delivery:
    return store.Delivery(
        id=1,
        delivery_id="dlv_1",
        subscription_id=1,
        subscription_name="kd",
        subscription_title=None,
        channel=channel,
        kind="immediate",
        paper_ids=(1,),
        status="sending",
        attempts=0,
        next_attempt_at=NOW,
        last_error=None,
        created_at=NOW,
        sent_at=None,
    )


# --- a database that fails or hangs -------------------------------------------------------------


def test_a_database_without_the_schema_gives_a_page_with_up_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        metrics = Metrics(engine)
        metrics.observe_delivery(_delivery("webhook:a"), NOW + timedelta(seconds=1))
        with caplog.at_level(logging.INFO, logger="feedd.metrics"):
            for _ in range(3):
                samples = parse(metrics.render())
                assert value(samples, "feedd_database_up") == 0
                assert not {
                    n for n in names(samples) if n.startswith(("feedd_dumps", "feedd_papers"))
                }
                # What this process knows is still there.
                count = "feedd_delivery_latency_seconds_count"
                assert value(samples, count, channel="webhook") == 1
                assert "process_resident_memory_bytes" in names(samples)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1, "an outage is logged once, not once per scrape"
            assert "no such table" in str(warnings[0].__dict__["fields"]["error"])

            store.upgrade(engine)
            samples = parse(metrics.render())
        assert value(samples, "feedd_database_up") == 1
        assert value(samples, "feedd_papers") == 0
        assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    finally:
        engine.dispose()


class SilentServer:
    """Accepts TCP connections (the kernel does, into the backlog) and never says a word: a
    database server that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"postgresql+psycopg://feedd@127.0.0.1:{self.sock.getsockname()[1]}/feedd"

    def close(self) -> None:
        self.sock.close()  # the connections waiting in the backlog are reset


@pytest.fixture
def hanging_engine() -> Iterator[sa.Engine]:
    server = SilentServer()
    engine = sa.create_engine(server.url, connect_args={"connect_timeout": 60})
    try:
        yield engine
    finally:
        server.close()
        engine.dispose()


def test_a_hanging_database_gives_answers_in_time(hanging_engine: sa.Engine) -> None:
    readers = lambda: sum(t.name == "metrics-read" for t in threading.enumerate())  # noqa: E731
    before = readers()  # a reader left hanging by an earlier test may still be there
    metrics = Metrics(hanging_engine, timeout=0.3)
    for _ in range(3):
        samples = parse(metrics.render())
        assert value(samples, "feedd_database_up") == 0
        assert "feedd_papers" not in names(samples)
    # Scrapes that came while the first read hung joined it instead of starting their own.
    assert readers() - before <= 1

    health = DatabaseFeedSource(hanging_engine, [], health_timeout=0.3).health()
    assert health["ok"] is False
    assert health["failing"] == ["database"]
    assert "did not answer within 0.3 s" in str(health["database"])


def test_the_http_app_serves_metrics_and_health_while_the_database_hangs(
    hanging_engine: sa.Engine,
) -> None:
    source = DatabaseFeedSource(
        hanging_engine,
        [],
        health=lambda: {"watcher": {"ok": True}, "delivery": {"ok": True}},
        health_timeout=0.3,
    )
    server = Server(create_app(source, SETTINGS, metrics=Metrics(hanging_engine, timeout=0.3)))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            page = client.get("/metrics")
            health = client.get("/healthz")
    finally:
        assert server.stop(5)
    assert page.status_code == 200
    assert value(parse(page.content), "feedd_database_up") == 0
    assert health.status_code == 503
    assert health.json()["failing"] == ["database"]
    assert health.json()["watcher"] == {"ok": True}


def test_the_http_app_serves_the_text_format(engine: sa.Engine) -> None:
    metrics = Metrics(engine)
    server = Server(create_app(MemoryFeedSource([], {}), SETTINGS, metrics=metrics))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            page = client.get("/metrics")
            assert client.get("/metrics", headers={"Accept-Encoding": "identity"}).is_success
    finally:
        assert server.stop(5)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert value(parse(page.content), "feedd_database_up") == 1


def test_without_metrics_there_is_no_metrics_route() -> None:
    server = Server(create_app(MemoryFeedSource([], {}), SETTINGS))
    server.start()
    try:
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404
    finally:
        assert server.stop(5)


def test_healthz_names_each_failing_part(engine: sa.Engine) -> None:
    parts = {"watcher": {"ok": True}, "scheduler": {"ok": False}, "delivery": {"ok": False}}
    source = DatabaseFeedSource(engine, [], health=lambda: parts)
    health = source.health()
    assert health["ok"] is False
    assert health["failing"] == ["scheduler", "delivery"]
    assert health["database"] == {"ok": True}
    parts["scheduler"] = parts["delivery"] = {"ok": True}
    assert source.health()["ok"] is True
    assert source.health()["failing"] == []


def test_a_bad_observation_is_logged_not_raised(
    sqlite_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    naive = datetime(2026, 3, 1, 12, 0, 5)  # cannot be subtracted from an aware created_at
    Metrics(sqlite_engine).observe_delivery(_delivery("webhook:a"), naive)
    assert "Unable to record a delivery's latency" in caplog.text
