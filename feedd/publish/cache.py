"""Rendered documents, kept until ``FeedSource.version()`` moves on.

A poll of an unchanged feed must cost no database query: ``cached`` is a counter read and a dict
lookup, and only a miss (first request after new matches landed) calls ``FeedSource.entries``.
One generation holds everything rendered for one version; a new version starts an empty one, so
invalidation is a single reference swap and needs no bookkeeping per feed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from feedd.publish.common import MEDIA_TYPES, feed_updated
from feedd.publish.document import Document, make_document
from feedd.publish.html import render_html_feed, render_index
from feedd.publish.jsonfeed import render_json_feed
from feedd.publish.model import FeedEntry, FeedInfo, FeedSettings, FeedSource, all_feeds
from feedd.publish.opml import OPML_MEDIA_TYPE, render_opml
from feedd.publish.xmlfeeds import render_atom, render_rss

# (feed name, kind); the site-wide documents use an empty name.
Key = tuple[str, str]
INDEX: Key = ("", "index")
OPML: Key = ("", "opml")

FeedRenderer = Callable[[FeedInfo, list[FeedEntry], FeedSettings], bytes]
FEED_KINDS: dict[str, tuple[FeedRenderer, str]] = {
    "rss": (render_rss, MEDIA_TYPES["rss"] + "; charset=utf-8"),
    "atom": (render_atom, MEDIA_TYPES["atom"] + "; charset=utf-8"),
    "json": (render_json_feed, MEDIA_TYPES["json"] + "; charset=utf-8"),
    "html": (render_html_feed, "text/html; charset=utf-8"),
}


@dataclass
class _Generation:
    version: int
    feeds: dict[str, FeedInfo] | None = None
    documents: dict[Key, Document] = field(default_factory=dict)
    locks: dict[Key, threading.Lock] = field(default_factory=dict)


class DocumentCache:
    """Thread-safe; ``get`` may block on the database and belongs in a worker thread."""

    def __init__(
        self, source: FeedSource, settings: FeedSettings, *, max_documents: int = 4096
    ) -> None:
        self._source = source
        self._settings = settings
        self._max_documents = max_documents
        self._lock = threading.Lock()
        self._generation = _Generation(version=-1)

    def cached(self, key: Key) -> Document | None:
        """The document if it is rendered and current; never renders, never queries."""
        generation = self._generation
        if generation.version != self._source.version():
            return None
        return generation.documents.get(key)

    def get(self, key: Key) -> Document | None:
        """The current document, rendered on a miss; None for an unknown feed."""
        generation = self._current()
        document = generation.documents.get(key)
        if document is not None:
            return document
        if key[0] and key[0] not in self._feeds(generation):
            return None
        # One renderer per key: a crowd of readers polling right after new matches landed costs
        # one query, not one each.
        with self._key_lock(generation, key):
            document = generation.documents.get(key)
            if document is None:
                document = self._render(generation, key)
                if document is not None:
                    self._store(generation, key, document)
            return document

    def known_feeds(self) -> list[FeedInfo]:
        return list(self._feeds(self._current()).values())

    def _current(self) -> _Generation:
        # Read the version *before* rendering: data that lands meanwhile bumps it again, so a
        # document is never filed under a version newer than the data it shows.
        version = self._source.version()
        with self._lock:
            if self._generation.version != version:
                self._generation = _Generation(version=version)
            return self._generation

    def _feeds(self, generation: _Generation) -> dict[str, FeedInfo]:
        if generation.feeds is None:
            feeds = {info.name: info for info in all_feeds(self._source)}
            with self._lock:
                if generation.feeds is None:
                    generation.feeds = feeds
        return generation.feeds

    def _key_lock(self, generation: _Generation, key: Key) -> threading.Lock:
        with self._lock:
            return generation.locks.setdefault(key, threading.Lock())

    def _store(self, generation: _Generation, key: Key, document: Document) -> None:
        with self._lock:
            # First in, first out: bounded memory without touching the dict on every hit.
            while len(generation.documents) >= self._max_documents:
                generation.documents.pop(next(iter(generation.documents)))
            generation.documents[key] = document

    def _render(self, generation: _Generation, key: Key) -> Document | None:
        name, kind = key
        settings = self._settings
        feeds = list(self._feeds(generation).values())
        if key == INDEX:
            return self._document(render_index(feeds, settings), "text/html; charset=utf-8")
        if key == OPML:
            return self._document(render_opml(feeds, settings), OPML_MEDIA_TYPE + "; charset=utf-8")
        renderer, content_type = FEED_KINDS[kind]
        entries = self._source.entries(name, settings.max_items)
        if entries is None:
            return None
        body = renderer(self._feeds(generation)[name], entries, settings)
        return self._document(body, content_type, entries)

    def _document(
        self, body: bytes, content_type: str, entries: list[FeedEntry] | None = None
    ) -> Document:
        modified = feed_updated(entries) if entries is not None else None
        return make_document(body, content_type, modified, self._settings.cache_max_age)
