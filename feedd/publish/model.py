"""The plain data the publish stage renders, and the one interface it reads it through.

The publish stage never sees a database session: the daemon implements ``FeedSource`` over the
store and hands it in, tests use ``feedd.publish.memory.MemoryFeedSource``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

ALL_FEED_NAME = "all"


@dataclass(frozen=True)
class FeedEntry:
    """One matched paper as a feed shows it."""

    paper_id: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    authors_count: int | None
    organisation: str | None
    published: date | None
    upvotes: int | None
    arxiv_id: str | None
    code_urls: tuple[str, ...]
    matched_at: datetime  # aware UTC; for the "all" feed: the paper's first_seen
    matched_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedInfo:
    """One subscription, or the implied "all" feed (``query`` is None then)."""

    name: str
    title: str
    query: str | None


@dataclass(frozen=True)
class FeedSettings:
    """What rendering and serving need from the settings file, passed in explicitly."""

    base_url: str  # e.g. "http://127.0.0.1:8080"; a trailing slash is dropped
    max_items: int = 50
    link_template: str = "https://huggingface.co/papers/{arxiv_id}"
    search_template: str = "https://huggingface.co/papers?q={title}"
    tag_authority: str = "feedd"
    cache_max_age: int = 300  # seconds a reader may reuse a feed before asking again

    def __post_init__(self) -> None:
        # Frozen, so the normalisation goes through object.__setattr__; a trailing slash would
        # otherwise turn every self link into "//feeds/...".
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


class FeedSource(Protocol):
    """What the daemon provides over the database."""

    def feeds(self) -> list[FeedInfo]:
        """Every active subscription; "all" is implied by the publish stage."""
        ...

    def entries(self, name: str, limit: int) -> list[FeedEntry] | None:
        """Newest matches first (matched_at desc, paper_id desc); None for an unknown feed."""
        ...

    def version(self) -> int:
        """A cheap counter bumped whenever matches or papers land: the cache key."""
        ...

    def health(self) -> dict[str, object]:
        """The /healthz body; ``{"ok": bool, ...}``."""
        ...


ALL_FEED = FeedInfo(name=ALL_FEED_NAME, title="All papers", query=None)


def all_feeds(source: FeedSource) -> list[FeedInfo]:
    """The "all" feed first, then the subscriptions by name, so listings are deterministic."""
    subscriptions = sorted(
        (info for info in source.feeds() if info.name != ALL_FEED_NAME), key=lambda i: i.name
    )
    return [ALL_FEED, *subscriptions]
