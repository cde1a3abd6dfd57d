"""The FeedSource the daemon and ``feedd feeds build`` use: feeds read from the database.

``version()`` is called on the event loop for every request, so it only reads a number. The
number changes when ``refresh()`` sees a new change marker in the database: the daemon calls it
after each ingest in this process, and a background poll catches what other processes sharing
the database stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from feedd import store
from feedd.logs import fields
from feedd.publish.common import entry_link
from feedd.publish.model import ALL_FEED_NAME, FeedEntry, FeedInfo, FeedSettings
from feedd.settings import Settings, SubscriptionSettings

log = logging.getLogger(__name__)

# /healthz is polled by load balancers and the systemd watchdog: it must answer in seconds even
# when the database hangs, and say so.
HEALTH_TIMEOUT_SECONDS = 3.0


class DatabaseFeedSource:
    def __init__(
        self,
        engine: sa.Engine,
        subscriptions: Sequence[SubscriptionSettings],
        *,
        health: Callable[[], dict[str, object]] | None = None,
        health_timeout: float = HEALTH_TIMEOUT_SECONDS,
    ) -> None:
        self._engine = engine
        self._health = health
        self._health_timeout = health_timeout
        self._ping = store.SharedRead(
            lambda: store.ping(engine, statement_seconds=health_timeout), name="health-ping"
        )
        self._lock = threading.Lock()
        self._marker: tuple[int, int] | None = None
        self._version = 0
        self.set_subscriptions(subscriptions)

    def set_subscriptions(self, subscriptions: Sequence[SubscriptionSettings]) -> None:
        """Swap in a new set (after a settings reload); every cached feed is rendered anew."""
        with self._lock:
            self._feeds = [FeedInfo(s.name, s.display_title, s.query) for s in subscriptions]
            self._version += 1

    def feeds(self) -> list[FeedInfo]:
        return list(self._feeds)

    def entries(self, name: str, limit: int) -> list[FeedEntry] | None:
        if name == ALL_FEED_NAME:
            items: list[store.FeedItem] | None = store.all_items(self._engine, limit=limit)
        else:
            items = store.subscription_items(self._engine, name, limit=limit)
        return None if items is None else [_entry(item) for item in items]

    def version(self) -> int:
        return self._version

    def refresh(self) -> bool:
        """Read the change marker; bump the version when it moved. True when it did."""
        marker = store.change_marker(self._engine)
        with self._lock:
            if marker == self._marker:
                return False
            self._marker = marker
            self._version += 1
            return True

    def health(self) -> dict[str, object]:
        """``{"ok", "failing": [part names], "database": {"ok", "error"?}, <the daemon's parts>}``.

        The database part is a real read of the schema, answered within ``health_timeout``.
        """
        answer = self._ping(self._health_timeout)
        database: dict[str, object] = {"ok": True}
        if not answer.ok:
            database = {"ok": False, "error": answer.error}
        parts: dict[str, object] = {"database": database}
        if self._health is not None:
            parts.update(self._health())
        failing = [
            name
            for name, part in parts.items()
            if isinstance(part, dict) and not part.get("ok", True)
        ]
        return {"ok": not failing, "failing": failing, **parts}


def feed_settings_for(settings: Settings) -> FeedSettings:
    """What the publish stage needs to know of the settings."""
    http = settings.http
    host = f"[{http.host}]" if ":" in http.host else http.host
    return FeedSettings(
        base_url=http.base_url or f"http://{host}:{http.port}",
        max_items=settings.feeds.max_items,
        link_template=settings.feeds.link_template,
        search_template=settings.feeds.search_template,
    )


def paper_link(paper: store.StoredPaper, settings: FeedSettings) -> str:
    """The link a feed entry has for this paper, for webhooks and e-mails too."""
    return entry_link(_entry(store.FeedItem(paper, paper.first_seen)), settings)


def _entry(item: store.FeedItem) -> FeedEntry:
    paper = item.paper
    return FeedEntry(
        paper_id=paper.id,
        title=paper.title,
        abstract=paper.abstract,
        authors=paper.authors,
        authors_count=paper.authors_count,
        organisation=paper.organisation,
        published=paper.published,
        upvotes=paper.upvotes,
        arxiv_id=paper.arxiv_id,
        code_urls=paper.code_urls,
        matched_at=item.matched_at,
        matched_terms=item.terms,
    )


class RefreshLoop:
    """Polls the change marker so feeds follow what other processes store."""

    def __init__(self, source: DatabaseFeedSource, interval: float, on_change: Callable[[], None]):
        self._source = source
        self._interval = interval
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self._source.refresh():
                    self._on_change()
            except Exception as exc:  # the database may be away for a while; keep polling
                log.warning("Unable to refresh feeds", extra=fields(error=str(exc)))
