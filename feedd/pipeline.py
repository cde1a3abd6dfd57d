"""One dump's journey through the stages: read -> parse -> store -> match.

The daemon and ``feedd ingest`` both call ``ingest_file``; what happens to the file afterwards
(archive, rejected/, or left where it is) is their business. Papers are matched in the same
transaction that stores them, so a paper is never stored without its matches or matched twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

import sqlalchemy as sa

from feedd import parse, store
from feedd.errors import DumpRejected
from feedd.match import Percolator, analyze, compile_query, document_frequencies
from feedd.notify.channels import channels_of
from feedd.notify.schedule import parse_schedule
from feedd.settings import SubscriptionSettings

Progress = Callable[[int], None]
CHUNK = 1 << 20
# Term frequencies of this many recent papers steer each query to its rarest required term.
DOC_FREQ_SAMPLE = 2000


@dataclass(frozen=True)
class Ingested:
    outcome: store.StoreOutcome
    matches: tuple[store.MatchRow, ...] = ()
    deliveries: tuple[str, ...] = ()  # delivery ids queued for immediate subscriptions


@dataclass(frozen=True)
class Subscriptions:
    """The subscriptions in force: the query index and, by stored id, what each asks for."""

    matcher: Percolator[int]
    by_id: dict[int, SubscriptionSettings]
    immediate: frozenset[int]  # ids whose schedule is "immediate", parsed once, not per dump

    def __len__(self) -> int:
        return len(self.by_id)


def ingest_file(
    engine: sa.Engine,
    path: Path,
    *,
    subscriptions: Subscriptions | None = None,
    progress: Progress | None = None,
) -> Ingested:
    """Store every paper of one dump and its new matches in one transaction, or record why not.

    Raises OSError when the file cannot be read (the file is not at fault: try again later) and
    StorageError when the database is unavailable. A file that is not a dump is not an exception
    here: the outcome says ``rejected`` and carries the reason.
    """
    stat = path.stat()
    reference_date = parse.reference_date_for(path.name, stat.st_mtime)
    info = store.DumpInfo(
        name=path.name,
        sha256=_sha256(path),
        size=stat.st_size,
        received_at=datetime.now(UTC),
        reference_date=reference_date,
    )
    if store.find_ingested_dump(engine, info.sha256) is not None:
        return Ingested(store.record_dump(engine, info, status="duplicate"))
    with path.open("rb") as raw:
        stream = cast(BinaryIO, _Counting(raw, progress)) if progress else raw
        try:
            dump = parse.open_dump(stream, reference_date=reference_date)
            with store.storage_errors(engine), store.begin_write(engine) as conn:
                outcome = store.store_dump_in(
                    conn, info, dump.format, dump, dump.warnings, page_date=dump.page_date
                )
                if subscriptions is None:
                    return Ingested(outcome)
                changed = outcome.new_paper_ids + outcome.updated_paper_ids
                matched = match_papers(conn, subscriptions.matcher, changed, backfill=False)
                queued = queue_immediate(conn, subscriptions, matched)
                return Ingested(outcome, tuple(matched), tuple(queued))
        except DumpRejected as exc:
            outcome = store.record_dump(engine, info, status="rejected", error=exc.message)
            return Ingested(outcome)


def match_papers(
    conn: sa.Connection, matcher: Percolator[int], paper_ids: Sequence[int], *, backfill: bool
) -> list[store.MatchRow]:
    """Match stored papers against the subscriptions; record and return the first-time pairs."""
    if not len(matcher):
        return []
    rows = _matches(matcher, store.papers_by_id(conn, paper_ids))
    return store.record_matches(conn, rows, now=datetime.now(UTC), backfill=backfill)


def queue_immediate(
    conn: sa.Connection, subscriptions: Subscriptions, matched: Sequence[store.MatchRow]
) -> list[str]:
    """Outbox rows for the subscriptions that deliver at once, in the matches' transaction:
    one delivery per subscription and receiver, carrying all of this dump's new matches."""
    papers: dict[int, list[int]] = {}
    for row in matched:
        papers.setdefault(row.subscription_id, []).append(row.paper_id)
    wanted = {key: ids for key, ids in papers.items() if key in subscriptions.immediate}
    by_id = subscriptions.by_id
    paused = store.paused_addresses(conn, [key for key in wanted if by_id[key].email_to])
    batches = [(key, _unpaused(key, by_id[key], paused), ids) for key, ids in wanted.items()]
    return store.enqueue_many(conn, batches, kind="immediate", now=datetime.now(UTC))


def receivers(conn: sa.Connection, subscription_id: int, sub: SubscriptionSettings) -> list[str]:
    """The channels a delivery for this subscription goes to now: every receiver in the
    settings but the addresses that unsubscribed."""
    paused = store.paused_addresses(conn, [subscription_id]) if sub.email_to else set()
    return _unpaused(subscription_id, sub, paused)


def _unpaused(
    subscription_id: int, sub: SubscriptionSettings, paused: set[tuple[int, str]]
) -> list[str]:
    return [
        channel
        for channel in channels_of(sub)
        if not (
            channel.startswith("email:")
            and (subscription_id, channel.removeprefix("email:")) in paused
        )
    ]


def _matches(
    matcher: Percolator[int], papers: Iterable[store.StoredPaper]
) -> Iterator[store.MatchRow]:
    for paper in papers:
        for subscription_id, result in matcher.match(analyze(paper)).items():
            yield store.MatchRow(subscription_id, paper.id, result.words)


def prepare_subscriptions(
    engine: sa.Engine, subscriptions: Sequence[SubscriptionSettings]
) -> Subscriptions:
    """Store the subscriptions, index their queries, and back-fill the new ones.

    Back-filled matches fill a new subscription's feed but are marked so that nobody is
    notified of papers that were stored before the subscription existed.
    """
    now = datetime.now(UTC)
    synced = store.sync_subscriptions(engine, [_spec(sub) for sub in subscriptions], now)
    queries = {synced.ids[sub.name]: compile_query(sub.query) for sub in subscriptions}
    with store.storage_errors(engine), engine.connect() as conn:
        frequencies = document_frequencies(
            analyze(paper) for paper in store.newest_papers(conn, limit=DOC_FREQ_SAMPLE)
        )
    matcher = Percolator(queries, doc_freq=frequencies)
    fresh = {key: queries[key] for key in synced.to_backfill}
    if fresh:
        backfill = Percolator(fresh, doc_freq=frequencies)
        with store.storage_errors(engine), store.begin_write(engine) as conn:
            store.record_matches(
                conn,
                _matches(backfill, store.iter_papers(conn)),
                now=now,
                backfill=True,
            )
    by_id = {synced.ids[sub.name]: sub for sub in subscriptions}
    immediate = frozenset(
        key for key, sub in by_id.items() if parse_schedule(sub.schedule, sub.timezone).immediate
    )
    return Subscriptions(matcher, by_id, immediate)


def _spec(sub: SubscriptionSettings) -> store.SubscriptionSpec:
    return store.SubscriptionSpec(
        name=sub.name,
        query=sub.query,
        title=sub.title,
        schedule=sub.schedule,
        timezone=sub.timezone,
        channels={
            "webhooks": sub.webhooks,
            "email_to": sub.email_to,
            "apprise_urls": sub.apprise_urls,
        },
        renamed_from=sub.renamed_from,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Counting:
    """A read-only stream wrapper that reports how many bytes have been consumed."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._progress(len(data))
        return data

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)
