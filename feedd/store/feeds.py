"""What the feeds show: a subscription's newest matches, or every paper, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feedd.store.db import storage_errors
from feedd.store.models import dumps, matches, paper_dumps, papers, subscriptions
from feedd.store.papers import _COLUMNS, StoredPaper


@dataclass(frozen=True)
class FeedItem:
    paper: StoredPaper
    matched_at: datetime  # for the feed of every paper: when it was first seen
    terms: tuple[str, ...] = ()


def subscription_items(engine: sa.Engine, name: str, *, limit: int) -> list[FeedItem] | None:
    """The newest matches of an active subscription; None when there is no such subscription."""
    with storage_errors(engine), engine.connect() as conn:
        subscription_id = conn.execute(
            sa.select(subscriptions.c.id).where(
                subscriptions.c.name == name, subscriptions.c.removed_at.is_(None)
            )
        ).scalar_one_or_none()
        if subscription_id is None:
            return None
        query = (
            sa.select(*_COLUMNS, matches.c.matched_at, matches.c.terms)
            .join(papers, papers.c.id == matches.c.paper_id)
            .where(matches.c.subscription_id == subscription_id)
            .order_by(matches.c.matched_at.desc(), matches.c.id.desc())
            .limit(limit)
        )
        return [_item(row, row.matched_at, row.terms) for row in conn.execute(query)]


def all_items(engine: sa.Engine, *, limit: int) -> list[FeedItem]:
    """Every stored paper, newest first by when feedd first saw it.

    Ids are handed out as papers are first stored, so the primary key already is that order
    and no index on first_seen (paid for on every insert) is needed.
    """
    with storage_errors(engine), engine.connect() as conn:
        query = sa.select(*_COLUMNS).order_by(papers.c.id.desc()).limit(limit)
        return [_item(row, row.first_seen, ()) for row in conn.execute(query)]


def _item(row: Any, matched_at: datetime, terms: tuple[str, ...]) -> FeedItem:
    fields = {column.name: row._mapping[column.name] for column in _COLUMNS}
    return FeedItem(StoredPaper(**fields), matched_at, tuple(terms))


def change_marker(engine: sa.Engine) -> tuple[int, int]:
    """Cheap to ask (two index lookups) and different whenever a dump was stored (new or updated
    papers) or matches were added (back-fill adds matches without a dump). Feeds are re-rendered
    only when it changes, in this process or in another one sharing the database."""
    with storage_errors(engine), engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.select(sa.func.coalesce(sa.func.max(dumps.c.id), 0)).scalar_subquery(),
                sa.select(sa.func.coalesce(sa.func.max(matches.c.id), 0)).scalar_subquery(),
            )
        ).one()
        return int(row[0]), int(row[1])


def feeds_changed_since(engine: sa.Engine, marker: tuple[int, int]) -> set[str]:
    """The subscriptions whose feeds may differ from what they were at ``marker`` (a
    ``change_marker``): those with new matches, and those matching a paper a newer dump stored
    or updated."""
    last_dump, last_match = marker
    touched = sa.select(paper_dumps.c.paper_id).where(paper_dumps.c.dump_id > last_dump)
    query = (
        sa.select(subscriptions.c.name)
        .distinct()
        .join(matches, matches.c.subscription_id == subscriptions.c.id)
        .where(sa.or_(matches.c.id > last_match, matches.c.paper_id.in_(touched)))
    )
    with storage_errors(engine), engine.connect() as conn:
        return set(conn.execute(query).scalars())
