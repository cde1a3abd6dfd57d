"""/metrics: what feedd has done, in the Prometheus text format.

Two kinds of figures:

- About the data (dumps, papers, matches, deliveries, the outbox, the last ingest): read from
  the database at scrape time by ``DatabaseCollector``, so every process sharing one database
  reports the same numbers. Aggregate them across instances with ``max``, never ``sum``.
- About this process (delivery latency seen by its workers, the scrape's own duration, CPU and
  memory): kept in memory, per process; ``sum`` them across instances.

When the database cannot be read, the page still answers 200, with ``feedd_database_up 0``, the
in-process figures, and no data figures at all (a stale or zero count would mislead a graph).
Each app gets its own ``CollectorRegistry``, so tests and several apps in one process never
clash over prometheus_client's global one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from feedd import __version__, store
from feedd.logs import fields

log = logging.getLogger(__name__)

# Below Prometheus' default scrape_timeout (10 s), so a slow database gives an answer with
# feedd_database_up 0 rather than a failed scrape.
SCRAPE_TIMEOUT_SECONDS = 5.0
# From "sent straight after the ingest" to "sent after a day of retries".
LATENCY_BUCKETS = (
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 3 * 3600, 12 * 3600, 24 * 3600,
)  # fmt: skip


class Metrics:
    """The registry behind one app's /metrics, and the hooks the stages call."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        timeout: float = SCRAPE_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            "feedd_delivery_latency_seconds",
            "Seconds from a delivery entering the outbox to the receiver accepting it, retries "
            "included, for the deliveries this process sent.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for kind in store.CHANNEL_KINDS:
            self._latency.labels(kind)  # every series exists from the start, at zero
        Info("feedd_build", "The running feedd.", registry=self.registry).info(
            {"version": __version__, "database": engine.dialect.name}
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(DatabaseCollector(engine, timeout=timeout, clock=clock))

    def observe_delivery(self, delivery: store.Delivery, sent_at: datetime) -> None:
        """A worker of this process saw ``delivery`` accepted at ``sent_at``.

        Never raises: the worker calls it after recording the row as sent, and an exception
        there would count a delivery that went out as a failed one (and send it again).
        """
        try:
            seconds = (sent_at - delivery.created_at).total_seconds()
            self._latency.labels(store.channel_kind(delivery.channel)).observe(max(seconds, 0.0))
        except Exception:
            log.exception("Unable to record a delivery's latency", extra=fields(id=delivery.id))

    def render(self) -> bytes:
        """The page; blocks while the database is read (at most ``timeout`` seconds)."""
        return generate_latest(self.registry)


class DatabaseCollector:
    """Reads the data figures at every scrape; never raises, whatever the database does."""

    def __init__(self, engine: sa.Engine, *, timeout: float, clock: Callable[[], datetime]) -> None:
        self._timeout = timeout
        self._read = store.SharedRead(
            lambda: store.database_counts(engine, now=clock(), statement_seconds=timeout),
            name="metrics-read",
        )
        self._lock = threading.Lock()
        self._last_error: str | None = None

    def describe(self) -> Iterator[Metric]:
        # Names only: the registry checks them for clashes without touching the database.
        yield from _status_families(up=False, seconds=0.0)
        yield from _data_families(None)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        answer = self._read(self._timeout)
        self._log_change(answer.error)
        yield from _status_families(up=answer.ok, seconds=time.perf_counter() - started)
        if answer.value is not None:
            yield from _data_families(answer.value)

    def _log_change(self, error: str | None) -> None:
        """One line when the database stops answering (or fails differently), one when it is
        back: a scrape every 15 s would otherwise repeat the same line all through an outage."""
        with self._lock:
            previous, self._last_error = self._last_error, error
        if error is not None and error != previous:
            log.warning("Unable to read the metrics from the database", extra=fields(error=error))
        elif error is None and previous is not None:
            log.info("The database answers the metrics scrape again")


def _status_families(*, up: bool, seconds: float) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "feedd_database_up",
        "1 when this scrape could read the database, else 0 (and the data figures are missing).",
        value=1 if up else 0,
    )
    yield GaugeMetricFamily(
        "feedd_scrape_duration_seconds",
        "Seconds this scrape spent reading the database.",
        value=seconds,
    )


def _data_families(counts: store.DatabaseCounts | None) -> Iterator[Metric]:
    dumps = CounterMetricFamily(
        "feedd_dumps", "Dump files received, by outcome.", labels=["status"]
    )
    papers = GaugeMetricFamily("feedd_papers", "Papers stored.")
    matches = CounterMetricFamily(
        "feedd_matches",
        "Papers matched by subscriptions; backfill=true when found as a subscription was added "
        "(never notified).",
        labels=["backfill"],
    )
    deliveries = GaugeMetricFamily(
        "feedd_deliveries",
        "Outbox rows by status and channel kind (webhook, email, apprise).",
        labels=["status", "channel"],
    )
    depth = GaugeMetricFamily("feedd_outbox_depth", "Deliveries not finished: pending or sending.")
    due = GaugeMetricFamily("feedd_outbox_due", "Deliveries a worker may claim right now.")
    last_ingest = GaugeMetricFamily(
        "feedd_last_ingest_timestamp_seconds",
        "Unix time the newest ingested dump finished; absent until one has.",
    )
    if counts is not None:
        for status, count in counts.dumps.items():
            dumps.add_metric([status], count)
        papers.add_metric([], counts.papers)
        for backfill, count in counts.matches.items():
            matches.add_metric(["true" if backfill else "false"], count)
        for (status, kind), count in counts.deliveries.items():
            deliveries.add_metric([status, kind], count)
        depth.add_metric([], counts.outbox_depth)
        due.add_metric([], counts.due)
        if counts.last_ingest is not None:
            last_ingest.add_metric([], counts.last_ingest.timestamp())
    yield from (dumps, papers, matches, deliveries, depth, due, last_ingest)
