"""Static export: every feed, its page, the index and the OPML as files for any web server.

Layout under the folder (the URL paths the app serves, so one nginx ``root`` serves both):
``feeds/<name>.rss|.atom|.json``, ``feeds/<name>.html`` (the page at ``/feeds/<name>``),
``index.html`` (``/``) and ``opml.xml`` (``/opml``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Set
from pathlib import Path

from feedd.ingest.inbox import write_atomically
from feedd.logs import fields
from feedd.publish.cache import FEED_KINDS
from feedd.publish.html import render_index
from feedd.publish.model import ALL_FEED_NAME, FeedSettings, FeedSource, all_feeds
from feedd.publish.opml import render_opml

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_EXTENSIONS = {"rss": "rss", "atom": "atom", "json": "json", "html": "html"}


def export_feeds(
    source: FeedSource, settings: FeedSettings, folder: Path, *, only: Set[str] | None = None
) -> list[Path]:
    """Write every file atomically (with ``only``: the feeds of those subscriptions, the "all"
    feed, the index and the OPML); return the paths written, in a stable order."""
    feeds = [info for info in all_feeds(source) if _is_safe(info.name)]
    paths = []
    for info in feeds:
        if only is not None and info.name not in only and info.name != ALL_FEED_NAME:
            continue
        entries = source.entries(info.name, settings.max_items)
        if entries is None:
            continue  # removed between feeds() and now; the next export will not list it
        for kind, (render, _) in FEED_KINDS.items():
            target = folder / "feeds" / f"{info.name}.{_EXTENSIONS[kind]}"
            _write(target, render(info, entries, settings))
            paths.append(target)
    for name, data in (
        ("opml.xml", render_opml(feeds, settings)),
        ("index.html", render_index(feeds, settings)),
    ):
        _write(folder / name, data)
        paths.append(folder / name)
    return paths


def _write(target: Path, data: bytes) -> None:
    # Leave identical files alone: their mtime is what nginx derives Last-Modified and ETag
    # from, and a rewrite would make every reader download an unchanged feed again.
    try:
        if target.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    write_atomically(target, data)


def _is_safe(name: str) -> bool:
    # Names become file names: a slug never escapes the folder, anything else is skipped.
    if _SAFE_NAME.fullmatch(name):
        return True
    log.warning("Feed not exported, its name is not a slug", extra=fields(name=name))
    return False
