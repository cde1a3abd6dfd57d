"""A FeedSource held in memory: for tests, benchmarks and trying the app without a database."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from feedd.publish.common import newest_first
from feedd.publish.model import ALL_FEED_NAME, FeedEntry, FeedInfo


class MemoryFeedSource:
    """Implements ``FeedSource``; ``entries_calls`` counts what would be database queries."""

    def __init__(
        self,
        feeds: Iterable[FeedInfo] = (),
        entries: Mapping[str, Sequence[FeedEntry]] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._feeds = {info.name: info for info in feeds}
        self._entries = {name: list(items) for name, items in (entries or {}).items()}
        self._version = 1
        self.healthy = True
        self.entries_calls = 0

    def feeds(self) -> list[FeedInfo]:
        with self._lock:
            return list(self._feeds.values())

    def entries(self, name: str, limit: int) -> list[FeedEntry] | None:
        with self._lock:
            self.entries_calls += 1
            if name == ALL_FEED_NAME:
                return newest_first(self._all(), limit)
            if name not in self._feeds:
                return None
            return newest_first(self._entries.get(name, []), limit)

    def version(self) -> int:
        return self._version

    def health(self) -> dict[str, object]:
        return {"ok": self.healthy, "source": "memory"}

    def put(self, name: str, entries: Sequence[FeedEntry], info: FeedInfo | None = None) -> None:
        """Replace a feed's entries (adding the feed if ``info`` is given); bump the version."""
        with self._lock:
            if info is not None:
                self._feeds[info.name] = info
            self._entries[name] = list(entries)
            self._version += 1

    def _all(self) -> list[FeedEntry]:
        # Every paper once, dated by when it was first seen (its earliest match here).
        if ALL_FEED_NAME in self._entries:
            return list(self._entries[ALL_FEED_NAME])
        first: dict[int, FeedEntry] = {}
        for items in self._entries.values():
            for entry in items:
                known = first.get(entry.paper_id)
                if known is None or entry.matched_at < known.matched_at:
                    first[entry.paper_id] = entry
        return list(first.values())
