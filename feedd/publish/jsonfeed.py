"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), small enough to own.

Dates follow RSS's meaning: ``date_published`` is when feedd matched the paper, so readers show
it as new then; the paper's own date travels in ``_feedd`` (JSON Feed's extension convention) and
in the HTML content.
"""

from __future__ import annotations

import json

from feedd.publish.common import (
    byline,
    clean,
    entry_id,
    entry_link,
    feed_description,
    feed_title,
    feed_url,
    newest_first,
    page_url,
    rfc3339,
    summary_html,
)
from feedd.publish.model import FeedEntry, FeedInfo, FeedSettings

VERSION = "https://jsonfeed.org/version/1.1"


def render_json_feed(info: FeedInfo, entries: list[FeedEntry], settings: FeedSettings) -> bytes:
    document = {
        "version": VERSION,
        "title": feed_title(info),
        "home_page_url": page_url(info, settings),
        "feed_url": feed_url(info, settings, "json"),
        "description": feed_description(info),
        "language": "en",
        "authors": [{"name": "feedd"}],
        "items": [_item(entry, settings) for entry in newest_first(entries, settings.max_items)],
    }
    # Same input, same bytes: key order is fixed by construction, and ensure_ascii=False keeps
    # emoji and RTL text readable (clean() already removed what UTF-8 cannot encode).
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(entry: FeedEntry, settings: FeedSettings) -> dict[str, object]:
    item: dict[str, object] = {
        "id": entry_id(entry, settings),
        "url": entry_link(entry, settings),
        "title": clean(entry.title).strip() or "(untitled)",
        "content_html": summary_html(entry),
        "date_published": rfc3339(entry.matched_at),
    }
    if entry.abstract.strip():
        item["summary"] = clean(entry.abstract)
    names = [clean(name).strip() for name in entry.authors if clean(name).strip()]
    if names:
        item["authors"] = [{"name": name} for name in names]
    elif byline(entry):
        item["authors"] = [{"name": byline(entry)}]
    tags = [clean(term) for term in entry.matched_terms if clean(term).strip()]
    if tags:
        item["tags"] = tags
    item["_feedd"] = _extension(entry)
    return item


def _extension(entry: FeedEntry) -> dict[str, object]:
    return {
        "paper_id": entry.paper_id,
        "published": entry.published.isoformat() if entry.published else None,
        "upvotes": entry.upvotes,
        "arxiv_id": clean(entry.arxiv_id) if entry.arxiv_id else None,
        "organisation": clean(entry.organisation) if entry.organisation else None,
        "code_urls": [clean(url) for url in entry.code_urls],
    }
