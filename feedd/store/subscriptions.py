"""Subscriptions as stored (so matches can refer to them) and the matches themselves.

The settings file is the source of truth for what subscriptions exist; ``sync_subscriptions``
brings the table in line with it. A subscription removed from the settings is marked removed and
keeps its matches; one renamed with ``renamed_from`` keeps its row, so its history follows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from feedd.store.db import begin_write, lock_ingest, storage_errors
from feedd.store.models import matches, papers, subscriptions
from feedd.store.papers import _COLUMNS, StoredPaper


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription as the settings describe it."""

    name: str
    query: str
    title: str | None = None
    schedule: str = "immediate"
    timezone: str = "UTC"
    channels: dict[str, list[str]] = field(default_factory=dict)
    renamed_from: str | None = None


@dataclass(frozen=True)
class StoredSubscription:
    id: int
    name: str
    title: str | None
    query: str
    schedule: str
    timezone: str
    channels: dict[str, list[str]]
    created_at: datetime
    removed_at: datetime | None
    matches: int = 0
    last_match_at: datetime | None = None


@dataclass(frozen=True)
class SyncResult:
    ids: dict[str, int]  # active name -> id
    to_backfill: tuple[int, ...]  # new, re-activated, or with a changed query


@dataclass(frozen=True)
class MatchRow:
    subscription_id: int
    paper_id: int
    terms: tuple[str, ...]


def sync_subscriptions(
    engine: sa.Engine, specs: Sequence[SubscriptionSpec], now: datetime
) -> SyncResult:
    """Make the table say what the settings say, in one transaction."""
    with storage_errors(engine), begin_write(engine) as conn:
        lock_ingest(conn)  # one process at a time rewrites the subscriptions
        rows = {row.name: row for row in conn.execute(sa.select(subscriptions))}
        ids: dict[str, int] = {}
        to_backfill: list[int] = []
        for spec in specs:
            row = rows.pop(spec.name, None)
            if row is None and spec.renamed_from:
                row = rows.pop(spec.renamed_from, None)
            ids[spec.name], backfill = _upsert_one(conn, spec, row, now)
            if backfill:
                to_backfill.append(ids[spec.name])
        for gone in rows.values():
            if gone.removed_at is None:
                conn.execute(
                    subscriptions.update()
                    .where(subscriptions.c.id == gone.id)
                    .values(removed_at=now, updated_at=now)
                )
    return SyncResult(ids=ids, to_backfill=tuple(to_backfill))


def _upsert_one(
    conn: sa.Connection, spec: SubscriptionSpec, row: Any | None, now: datetime
) -> tuple[int, bool]:
    values = {
        "name": spec.name,
        "title": spec.title,
        "query": spec.query,
        "schedule": spec.schedule,
        "timezone": spec.timezone,
        "channels": spec.channels,
        "updated_at": now,
        "removed_at": None,
    }
    if row is None:
        inserted = conn.execute(
            subscriptions.insert().values(created_at=now, **values).returning(subscriptions.c.id)
        )
        return int(inserted.scalar_one()), True
    current = {key: getattr(row, key) for key in values if key != "updated_at"}
    if current != {key: value for key, value in values.items() if key != "updated_at"}:
        conn.execute(subscriptions.update().where(subscriptions.c.id == row.id).values(**values))
    return int(row.id), row.query != spec.query or row.removed_at is not None


def list_subscriptions(
    engine: sa.Engine, *, include_removed: bool = False
) -> list[StoredSubscription]:
    counts = (
        sa.select(
            matches.c.subscription_id,
            sa.func.count().label("matches"),
            sa.func.max(matches.c.matched_at).label("last_match_at"),
        )
        .group_by(matches.c.subscription_id)
        .subquery()
    )
    query = (
        sa.select(
            subscriptions,
            sa.func.coalesce(counts.c.matches, 0).label("matches"),
            counts.c.last_match_at,
        )
        .outerjoin(counts, counts.c.subscription_id == subscriptions.c.id)
        .order_by(subscriptions.c.name)
    )
    if not include_removed:
        query = query.where(subscriptions.c.removed_at.is_(None))
    with storage_errors(engine), engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query)]


def _stored(row: Any) -> StoredSubscription:
    return StoredSubscription(
        id=row.id,
        name=row.name,
        title=row.title,
        query=row.query,
        schedule=row.schedule,
        timezone=row.timezone,
        channels=dict(row.channels),
        created_at=row.created_at,
        removed_at=row.removed_at,
        matches=int(row.matches),
        last_match_at=row.last_match_at,
    )


def record_matches(
    conn: sa.Connection, rows: Iterable[MatchRow], *, now: datetime, backfill: bool
) -> list[MatchRow]:
    """Insert the (subscription, paper) pairs not matched before; return the ones inserted."""
    values = [
        {
            "subscription_id": row.subscription_id,
            "paper_id": row.paper_id,
            "terms": row.terms,
            "matched_at": now,
            "backfill": backfill,
        }
        for row in rows
    ]
    if not values:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(matches)
        .on_conflict_do_nothing(index_elements=["subscription_id", "paper_id"])
        .returning(matches.c.subscription_id, matches.c.paper_id, matches.c.terms)
    )
    inserted: list[MatchRow] = []
    for start in range(0, len(values), 1000):
        result = conn.execute(statement, values[start : start + 1000])
        inserted += [MatchRow(r.subscription_id, r.paper_id, tuple(r.terms)) for r in result]
    return inserted


def papers_by_id(conn: sa.Connection, ids: Sequence[int]) -> Iterator[StoredPaper]:
    """Papers for matching, read inside the caller's transaction (dump names left out)."""
    for start in range(0, len(ids), 1000):
        chunk = list(ids[start : start + 1000])
        for row in conn.execute(sa.select(*_COLUMNS).where(papers.c.id.in_(chunk))):
            yield StoredPaper(**row._mapping)


def newest_papers(conn: sa.Connection, *, limit: int) -> list[StoredPaper]:
    rows = conn.execute(sa.select(*_COLUMNS).order_by(papers.c.id.desc()).limit(limit))
    return [StoredPaper(**row._mapping) for row in rows]


def iter_papers(conn: sa.Connection, *, batch: int = 1000) -> Iterator[StoredPaper]:
    """Every stored paper, by id, read in pages so memory stays flat."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(*_COLUMNS).where(papers.c.id > last).order_by(papers.c.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield StoredPaper(**row._mapping)
        last = rows[-1].id
