"""Ingest throughput: parsing alone, and parse + store on SQLite and PostgreSQL.

    python benchmarks/ingest.py [--entries 100000]

Builds a synthetic Daily Papers dump of N entries with unique titles from the real entries of
../shared/dumps (streamed to a temporary file, never held in memory), then prints papers/s for
parsing alone, for parse + store (feedd's real ingest path) on a SQLite file, and on PostgreSQL
when FEEDD_TEST_POSTGRES_URL is set (a scratch database is created and dropped), and the peak
memory (max RSS) of the whole run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedd import parse, pipeline, store  # noqa: E402

DUMPS = REPO.parent / "shared" / "dumps"
REFERENCE = date(2026, 11, 22)


def example_entries() -> list[tuple[str, str, str]]:
    """(title, abstract, metadata lines) of every entry in the example dumps."""
    entries = []
    for dump in sorted(DUMPS.glob("*.txt")):
        _, records, _ = parse.parse_bytes(dump.read_bytes(), reference_date=REFERENCE)
        for r in records:
            meta = ""
            if r.published is not None:
                who = (
                    f"  • {r.authors_count} authors" if r.authors_count else f"org {r.organisation}"
                )
                day = f"{r.published:%b} {r.published.day}, {r.published.year}"
                meta = f"{who}\n·\n{day} {r.upvotes or ''}".rstrip()
            entries.append((r.title, r.abstract, meta))
    return entries


def write_corpus(path: Path, count: int) -> None:
    entries = example_entries()
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "new\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\nOct 28\n\n"
        )
        for n in range(count):
            title, abstract, meta = entries[n % len(entries)]
            out.write(f"{title} (variant {n})\n\n{abstract}\n\n")
            if meta:
                out.write(f"{meta}\n\n")


def timed_parse(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with path.open("rb") as stream:
        dump = parse.open_dump(stream, reference_date=REFERENCE)
        count = sum(1 for _ in dump)
    return count, time.perf_counter() - start


def timed_store(path: Path, url: str) -> tuple[int, float]:
    engine = store.make_engine(url)
    try:
        store.upgrade(engine)
        start = time.perf_counter()
        outcome = pipeline.ingest_file(engine, path).outcome
        elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    assert outcome.status == "ingested", outcome
    return outcome.papers_new, elapsed


def scratch_postgres(base_url: str) -> Iterator[str]:
    name = f"feedd_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def report(label: str, count: int, seconds: float) -> None:
    print(f"{label:<32} {count:>8} papers in {seconds:6.2f} s = {count / seconds:>9,.0f} papers/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedd-bench-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        write_corpus(corpus, args.entries)
        size_mb = corpus.stat().st_size / 1e6
        print(f"corpus: {args.entries} entries, {size_mb:.0f} MB ({corpus})")
        report("parse only", *timed_parse(corpus))
        report("parse + store, SQLite", *timed_store(corpus, f"sqlite:///{Path(tmp) / 'b.db'}"))
        postgres = os.environ.get("FEEDD_TEST_POSTGRES_URL")
        if postgres:
            for url in scratch_postgres(postgres):
                report("parse + store, PostgreSQL", *timed_store(corpus, url))
        else:
            print("parse + store, PostgreSQL       skipped (set FEEDD_TEST_POSTGRES_URL)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS)            {peak:.0f} MB")


if __name__ == "__main__":
    main()
