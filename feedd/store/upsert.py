"""Storing one parsed dump: the batched paper upsert, in one transaction per dump.

Per batch of records: one SELECT of the papers already known by key, the merge in Python, then
one bulk statement each for new papers, changed papers, the last-seen time of unchanged ones,
and the paper-dump links (see ``writers``). Ingests are serialised (``lock_ingest``), so the
SELECT stays exact until the commit.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from feedd.parse.records import DumpFormat, PaperRecord, ParseWarning
from feedd.store.db import begin_write, lock_ingest, storage_errors
from feedd.store.dumps import (
    DumpInfo,
    StoreOutcome,
    empty_outcome,
    finish_dump_row,
    ingested_dump_id,
    insert_dump_row,
)
from feedd.store.merge import PaperState, merge, visibly_changed
from feedd.store.models import papers
from feedd.store.writers import ChangedPaper, NewPaper, writer_for

# Big enough that per-statement overhead vanishes, small enough that a batch of abstracts
# (~2 kB each) stays a few MB, and under SQLite's 32,766 bound parameters (writers.touch).
BATCH_SIZE = 2000

# JSON lists come back as text and are decoded by _strings: most are "[]", and the drivers'
# generic JSON decoding costs more than the rest of the merge.
_STATE_COLUMNS = [
    sa.cast(papers.c[name], sa.Text) if name in ("authors", "code_urls") else papers.c[name]
    for name in PaperState._fields
]
_AUTHORS = PaperState._fields.index("authors")
_CODE_URLS = PaperState._fields.index("code_urls")


@functools.cache
def _select_known(dialect: str) -> sa.Select[Any]:
    """The SELECT of the known papers among a batch of keys.

    The keys travel as ONE parameter (a JSON array on SQLite, an array on PostgreSQL): an
    IN list of 2,000 bound parameters costs more to render on every execution than the query.
    """
    if dialect == "postgresql":
        keys = sa.bindparam("keys", type_=postgresql.ARRAY(sa.Text))
        matches = papers.c.key == sa.any_(keys)
    else:
        keys = sa.bindparam("keys", type_=sa.Text)
        values = sa.select(sa.column("value", sa.Text)).select_from(sa.func.json_each(keys))
        matches = papers.c.key.in_(values.scalar_subquery())
    return sa.select(papers.c.key, papers.c.id, *_STATE_COLUMNS).where(matches)


def _keys_param(conn: sa.Connection, keys: list[str]) -> dict[str, object]:
    return {"keys": keys if conn.dialect.name == "postgresql" else json.dumps(keys)}


def store_dump(
    engine: sa.Engine,
    info: DumpInfo,
    fmt: DumpFormat,
    papers: Iterable[PaperRecord],
    warnings: list[ParseWarning],
    page_date: date | None = None,
) -> StoreOutcome:
    """Store a dump's papers in one transaction; see ``store_dump_in``."""
    with storage_errors(engine), begin_write(engine) as conn:
        return store_dump_in(conn, info, fmt, papers, warnings, page_date)


def store_dump_in(
    conn: sa.Connection,
    info: DumpInfo,
    fmt: DumpFormat,
    records: Iterable[PaperRecord],
    warnings: list[ParseWarning],
    page_date: date | None = None,
) -> StoreOutcome:
    """``store_dump`` on a connection already in a write transaction (``begin_write``), for
    callers that want more in the same transaction. Records stream through in batches; if the
    iterator raises, the exception propagates and the caller's transaction must roll back.
    """
    lock_ingest(conn)
    if ingested_dump_id(conn, info.sha256) is not None:
        dump_id = insert_dump_row(conn, info, status="duplicate", format=fmt.value)
        return empty_outcome(dump_id, status="duplicate", format=fmt.value)
    dump_id = insert_dump_row(conn, info, status="ingested", format=fmt.value, page_date=page_date)
    batcher = _Batcher(conn, dump_id, info.reference_date)
    for batch in _batches(records, BATCH_SIZE):
        batcher.store(batch)
    # The parser appends to `warnings` while it is iterated: complete only now.
    outcome = batcher.tally.outcome(dump_id, fmt, tuple(str(w) for w in warnings))
    finish_dump_row(conn, outcome)
    return outcome


@dataclass
class _Tally:
    """Which papers this dump created, changed or merely saw; dicts keep first-seen order."""

    entries: int = 0
    new: dict[int, None] = field(default_factory=dict)
    updated: dict[int, None] = field(default_factory=dict)
    unchanged: set[int] = field(default_factory=set)

    def saw_known(self, paper_id: int, changed: bool) -> bool:
        """Count a sighting of a stored paper; True when this dump had not linked it yet."""
        if paper_id in self.new or paper_id in self.updated:
            return False
        first = paper_id not in self.unchanged
        if changed:
            # Seen unchanged earlier in this dump and changed now: it is "updated".
            self.unchanged.discard(paper_id)
            self.updated[paper_id] = None
        else:
            self.unchanged.add(paper_id)
        return first

    def outcome(self, dump_id: int, fmt: DumpFormat, warnings: tuple[str, ...]) -> StoreOutcome:
        return StoreOutcome(
            dump_id=dump_id,
            status="ingested",
            format=fmt.value,
            papers_total=len(self.new) + len(self.updated) + len(self.unchanged),
            papers_new=len(self.new),
            papers_updated=len(self.updated),
            papers_unchanged=len(self.unchanged),
            warnings=warnings,
            error=None,
            new_paper_ids=tuple(self.new),
            updated_paper_ids=tuple(self.updated),
            entries=self.entries,
        )


class _Batcher:
    """Writes one batch of records at a time for one dump."""

    def __init__(self, conn: sa.Connection, dump_id: int, reference: date | None) -> None:
        self.conn = conn
        self.reference = reference
        self.writer = writer_for(conn, dump_id, datetime.now(UTC))
        self.tally = _Tally()

    def store(self, records: list[PaperRecord]) -> None:
        self.tally.entries += len(records)
        incoming = self._collapse(records)
        known = self._select_known(list(incoming))
        new: list[NewPaper] = []
        changed: list[ChangedPaper] = []
        seen_only: list[int] = []
        links: list[int] = []
        for key, state in incoming.items():
            if key not in known:
                new.append((key, state))
                continue
            paper_id, stored = known[key]
            merged = merge(stored, state)
            if merged != stored:
                changed.append((paper_id, merged))
            else:
                seen_only.append(paper_id)
            if self.tally.saw_known(paper_id, visibly_changed(stored, merged)):
                links.append(paper_id)
        links.extend(self._insert(new))
        self.writer.update(changed)
        self.writer.touch(seen_only)
        self.writer.link(links)

    def _collapse(self, records: list[PaperRecord]) -> dict[str, PaperState]:
        """Merge the records of one batch that are the same paper, in dump order."""
        incoming: dict[str, PaperState] = {}
        for record in records:
            state = PaperState.from_record(record, self.reference)
            earlier = incoming.get(record.key)
            incoming[record.key] = state if earlier is None else merge(earlier, state)
        return incoming

    def _select_known(self, keys: list[str]) -> dict[str, tuple[int, PaperState]]:
        query = _select_known(self.conn.dialect.name)
        rows = self.conn.execute(query, _keys_param(self.conn, keys)).all()
        return {row[0]: (row[1], _state(row[2:])) for row in rows}

    def _insert(self, new: list[NewPaper]) -> list[int]:
        ids = self.writer.insert(new)
        self.tally.new.update(dict.fromkeys(ids))
        return ids


def _state(values: Sequence[Any]) -> PaperState:
    fields = list(values)
    fields[_AUTHORS] = _strings(fields[_AUTHORS])
    fields[_CODE_URLS] = _strings(fields[_CODE_URLS])
    return PaperState(*fields)


def _strings(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _batches(records: Iterable[PaperRecord], size: int) -> Iterator[list[PaperRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch
