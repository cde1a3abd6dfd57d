"""Publish: feeds (RSS 2.0, Atom 1.0, JSON Feed 1.1), OPML, HTML pages, the HTTP app and static
export. Pure rendering over plain data (``model``); the daemon supplies a ``FeedSource``."""

from feedd.publish.app import create_app
from feedd.publish.export import export_feeds
from feedd.publish.html import render_html_feed, render_index
from feedd.publish.jsonfeed import render_json_feed
from feedd.publish.model import (
    ALL_FEED,
    ALL_FEED_NAME,
    FeedEntry,
    FeedInfo,
    FeedSettings,
    FeedSource,
    all_feeds,
)
from feedd.publish.opml import render_opml
from feedd.publish.server import Server
from feedd.publish.xmlfeeds import render_atom, render_rss

__all__ = [
    "ALL_FEED",
    "ALL_FEED_NAME",
    "FeedEntry",
    "FeedInfo",
    "FeedSettings",
    "FeedSource",
    "Server",
    "all_feeds",
    "create_app",
    "export_feeds",
    "render_atom",
    "render_html_feed",
    "render_index",
    "render_json_feed",
    "render_opml",
    "render_rss",
]
