"""The database side of a /metrics scrape on a large database: how long the aggregate reads take.

    python benchmarks/metrics_scrape.py [--papers 300000] [--matches 3] [--deliveries 100000]

Fills a new SQLite file (and, with ``FEEDD_TEST_POSTGRES_URL`` set, a new PostgreSQL database)
with ``--papers`` papers (1 kB abstracts), ``--matches`` matches per paper over ten
subscriptions, ``--deliveries`` outbox rows (nearly all sent), and ten dumps; then times
``store.database_counts`` (what every scrape runs), cold and warm, median of five. On
PostgreSQL it is timed again after ``VACUUM ANALYZE`` (what autovacuum does on its own soon
after a large ingest), which lets the paper count read the primary-key index only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedd import store  # noqa: E402
from feedd.store.models import deliveries, dumps, matches, papers, subscriptions  # noqa: E402

CHUNK = 10_000
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def chunks(rows: Iterator[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(engine: sa.Engine, n_papers: int, per_paper: int, n_deliveries: int) -> None:
    abstract = "We study learning with models and data, carefully and at length. " * 16
    with engine.begin() as conn:
        conn.execute(
            subscriptions.insert(),
            [
                {
                    "name": f"s{n}",
                    "query": "x",
                    "schedule": "immediate",
                    "timezone": "UTC",
                    "channels": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(10)
            ],
        )
        conn.execute(
            dumps.insert(),
            [
                {
                    "name": f"d{n}.txt",
                    "sha256": f"{n:064x}",
                    "size": 1,
                    "status": ("ingested", "duplicate", "rejected")[n % 3],
                    "papers_total": 0,
                    "papers_new": 0,
                    "papers_updated": 0,
                    "papers_unchanged": 0,
                    "warnings": (),
                    "received_at": NOW,
                    "finished_at": NOW + timedelta(minutes=n),
                }
                for n in range(10)
            ],
        )
    paper_rows = (
        {
            "key": f"paper {n}",
            "title": f"Paper {n}",
            "abstract": abstract,
            "authors": ("Ada Lovelace", "Alan Turing"),
            "code_urls": (),
            "first_seen": NOW,
            "last_seen": NOW,
        }
        for n in range(n_papers)
    )
    match_rows = (
        {
            "subscription_id": 1 + (n + k) % 10,
            "paper_id": 1 + n,
            "matched_at": NOW,
            "terms": ("learning",),
            "backfill": k == 0,
        }
        for n in range(n_papers)
        for k in range(per_paper)
    )
    delivery_rows = (
        {
            "delivery_id": f"dlv_{n:020d}",
            "subscription_id": 1 + n % 10,
            "channel": "webhook:team" if n % 3 else "email:someone@example.org",
            "kind": "immediate",
            "paper_ids": [1 + n % max(n_papers, 1)],
            "status": "sent" if n % 100 else "pending",
            "attempts": 1,
            "next_attempt_at": NOW,
            "created_at": NOW,
            "sent_at": NOW,
        }
        for n in range(n_deliveries)
    )
    for table, rows in ((papers, paper_rows), (matches, match_rows), (deliveries, delivery_rows)):
        for batch in chunks(rows):
            with engine.begin() as conn:
                conn.execute(table.insert(), batch)


def timed(engine: sa.Engine) -> tuple[float, float]:
    def once() -> float:
        started = time.perf_counter()
        store.database_counts(engine, now=NOW, statement_seconds=30)
        return time.perf_counter() - started

    cold = once()
    return cold, statistics.median(once() for _ in range(5))


def report(label: str, engine: sa.Engine) -> None:
    cold, warm = timed(engine)
    print(f"{label:<32} first {cold * 1000:8.1f} ms   then (median of 5) {warm * 1000:8.1f} ms")


def run(url: str, args: argparse.Namespace) -> None:
    engine = store.make_engine(url)
    try:
        store.upgrade(engine)
        started = time.perf_counter()
        fill(engine, args.papers, args.matches, args.deliveries)
        name = engine.dialect.name
        print(f"{name}: filled in {time.perf_counter() - started:.0f} s")
        counts = store.database_counts(engine, now=NOW, statement_seconds=30)
        assert counts.papers == args.papers, counts
        report(f"{name}", engine)
        if name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
            report(f"{name} after VACUUM ANALYZE", engine)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=300_000)
    parser.add_argument("--matches", type=int, default=3, help="matches per paper")
    parser.add_argument("--deliveries", type=int, default=100_000)
    args = parser.parse_args()
    print(
        f"{args.papers:,} papers, {args.papers * args.matches:,} matches, "
        f"{args.deliveries:,} deliveries"
    )
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/feedd.db", args)
    admin_url = os.environ.get("FEEDD_TEST_POSTGRES_URL")
    if not admin_url:
        print("FEEDD_TEST_POSTGRES_URL is not set: PostgreSQL skipped")
        return
    name = f"feedd_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        run(sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), args)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
