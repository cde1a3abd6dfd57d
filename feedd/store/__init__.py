"""Storage: the schema and its migrations, storing parsed dumps, and reading papers back.

Stages get plain frozen dataclasses from here (``StoredPaper``, ``StoredDump``, ``StoreOutcome``),
never sessions. Database failures surface as ``feedd.errors.StorageError``.
"""

from __future__ import annotations

from feedd.store.alerts import get_alert_state, last_ingest_at, set_alert_state
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
    digest_windows_of,
    drop_digest_windows,
    enqueue,
    list_deliveries,
    new_delivery_id,
    open_digest_window,
    outbox_depth,
    record_attempts,
    release,
    renew_leases,
    retry_delivery,
)
from feedd.store.papers import StoredPaper, count_papers, get_paper, get_papers, list_papers
from feedd.store.probe import Answer, SharedRead, limit_statements, ping
from feedd.store.recipients import (
    Recipient,
    find_recipient,
    pause_recipient,
    paused_addresses,
    recipient,
    resume_recipient,
)
from feedd.store.stats import CHANNEL_KINDS, DatabaseCounts, channel_kind, database_counts
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
    "CHANNEL_KINDS",
    "WRITE_OPTION",
    "Answer",
    "Attempt",
    "DatabaseCounts",
    "Delivery",
    "DumpInfo",
    "FeedItem",
    "MatchRow",
    "Recipient",
    "SharedRead",
    "StoreOutcome",
    "StoredDump",
    "StoredPaper",
    "StoredSubscription",
    "SubscriptionSpec",
    "SyncResult",
    "all_items",
    "begin_write",
    "change_marker",
    "channel_kind",
    "checkpoint",
    "claim_due",
    "close_digest_window",
    "count_papers",
    "current_revision",
    "database_counts",
    "digest_delivered_until",
    "digest_windows_of",
    "drop_digest_windows",
    "enqueue",
    "find_ingested_dump",
    "find_recipient",
    "get_alert_state",
    "get_paper",
    "get_papers",
    "head_revision",
    "iter_papers",
    "last_ingest_at",
    "limit_statements",
    "list_deliveries",
    "list_dumps",
    "list_papers",
    "list_subscriptions",
    "make_engine",
    "new_delivery_id",
    "newest_papers",
    "open_digest_window",
    "outbox_depth",
    "papers_by_id",
    "pause_recipient",
    "paused_addresses",
    "ping",
    "recipient",
    "record_attempts",
    "record_dump",
    "record_matches",
    "release",
    "renew_leases",
    "resume_recipient",
    "retry_delivery",
    "set_alert_state",
    "storage_errors",
    "store_dump",
    "store_dump_in",
    "subscription_items",
    "sync_subscriptions",
    "upgrade",
]
