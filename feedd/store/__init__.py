"""Storage: the schema and its migrations, storing parsed dumps, and reading papers back.

Stages get plain frozen dataclasses from here (``StoredPaper``, ``StoredDump``, ``StoreOutcome``),
never sessions. Database failures surface as ``feedd.errors.StorageError``.
"""

from __future__ import annotations

from feedd.store.db import WRITE_OPTION, begin_write, checkpoint, make_engine, storage_errors
from feedd.store.dumps import (
    DumpInfo,
    StoredDump,
    StoreOutcome,
    find_ingested_dump,
    list_dumps,
    record_dump,
)
from feedd.store.feeds import FeedItem, all_items, change_marker, subscription_items
from feedd.store.migrate import current_revision, head_revision, upgrade
from feedd.store.outbox import (
    Attempt,
    Delivery,
    claim_due,
    close_digest_window,
    digest_delivered_until,
    enqueue,
    list_deliveries,
    next_due,
    outbox_depth,
    record_attempts,
    release,
    renew_leases,
    retry_delivery,
)
from feedd.store.papers import StoredPaper, count_papers, get_paper, get_papers, list_papers
from feedd.store.subscriptions import (
    MatchRow,
    StoredSubscription,
    SubscriptionSpec,
    SyncResult,
    iter_papers,
    list_subscriptions,
    newest_papers,
    papers_by_id,
    record_matches,
    sync_subscriptions,
)
from feedd.store.upsert import store_dump, store_dump_in

__all__ = [
    "WRITE_OPTION",
    "Attempt",
    "Delivery",
    "DumpInfo",
    "FeedItem",
    "MatchRow",
    "StoreOutcome",
    "StoredDump",
    "StoredPaper",
    "StoredSubscription",
    "SubscriptionSpec",
    "SyncResult",
    "all_items",
    "begin_write",
    "change_marker",
    "checkpoint",
    "claim_due",
    "close_digest_window",
    "count_papers",
    "current_revision",
    "digest_delivered_until",
    "enqueue",
    "find_ingested_dump",
    "get_paper",
    "get_papers",
    "head_revision",
    "iter_papers",
    "list_deliveries",
    "list_dumps",
    "list_papers",
    "list_subscriptions",
    "make_engine",
    "newest_papers",
    "next_due",
    "outbox_depth",
    "papers_by_id",
    "record_attempts",
    "record_dump",
    "record_matches",
    "release",
    "renew_leases",
    "retry_delivery",
    "storage_errors",
    "store_dump",
    "store_dump_in",
    "subscription_items",
    "sync_subscriptions",
    "upgrade",
]
