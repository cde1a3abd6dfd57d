"""The human pages: one per feed, and an index of every feed.

A tiny renderer instead of a template engine: every value goes through ``esc`` (or the already
escaped ``summary_html``), and there are only two pages. Both carry ``<link rel="alternate">``
tags so a reader given the page URL finds the feeds by itself.
"""

from __future__ import annotations

import html

from feedd.publish.common import (
    FEED_FORMATS,
    FORMAT_LABELS,
    MEDIA_TYPES,
    byline,
    clean,
    entry_link,
    feed_description,
    feed_title,
    feed_url,
    newest_first,
    page_url,
    rfc3339,
    summary_html,
)
from feedd.publish.model import ALL_FEED_NAME, FeedEntry, FeedInfo, FeedSettings
from feedd.publish.opml import OPML_MEDIA_TYPE

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.1rem;margin-bottom:.2rem}a{color:#0645ad}
.meta{color:#555;font-size:.9rem;margin:0}code{background:#f3f3f3;padding:0 .2rem}
ol.papers{padding-left:1.2rem}ol.papers>li{margin-bottom:1.5rem}
table{border-collapse:collapse}
td,th{padding:.3rem .6rem;text-align:left;border-bottom:1px solid #ddd}
"""


def esc(text: str) -> str:
    return html.escape(clean(text), quote=True)


def render_html_feed(info: FeedInfo, entries: list[FeedEntry], settings: FeedSettings) -> bytes:
    """The feed's page: its query, its three feed links and its newest matches."""
    title = feed_title(info)
    chosen = newest_first(entries, settings.max_items)
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>{_query_line(info)}</p>",
        f"<p>Subscribe: {_format_links(info, settings)}</p>",
        f'<p><a href="{esc(settings.base_url)}/">All feeds</a></p>',
    ]
    if chosen:
        body.append('<ol class="papers">')
        body.extend(_paper(entry, settings) for entry in chosen)
        body.append("</ol>")
    else:
        body.append("<p>No papers yet.</p>")
    return _page(title, _alternates(info, settings, FEED_FORMATS), body)


def render_index(feeds: list[FeedInfo], settings: FeedSettings) -> bytes:
    """Every feed with its URLs, and the OPML link for importing them all at once."""
    opml = f"{settings.base_url}/opml"
    head = [_alternates(info, settings, ("rss",)) for info in feeds if info.name != ALL_FEED_NAME]
    everything = next((info for info in feeds if info.name == ALL_FEED_NAME), None)
    if everything is not None:
        head.insert(0, _alternates(everything, settings, FEED_FORMATS))
    rows = [_index_row(info, settings) for info in feeds]
    body = [
        "<h1>feedd</h1>",
        f'<p>Import every feed at once: <a href="{esc(opml)}">{esc(opml)}</a> (OPML)</p>',
        "<table><thead><tr><th>Feed</th><th>Query</th><th>Feeds</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]
    head.append(
        f'<link rel="outline" type="{OPML_MEDIA_TYPE}" title="feedd subscriptions (OPML)"'
        f' href="{esc(opml)}">'
    )
    return _page("feedd", "\n".join(head), body)


def _index_row(info: FeedInfo, settings: FeedSettings) -> str:
    name = f'<a href="{esc(page_url(info, settings))}">{esc(feed_title(info))}</a>'
    links = _format_links(info, settings)
    return f"<tr><td>{name}</td><td>{_query_line(info)}</td><td>{links}</td></tr>"


def _query_line(info: FeedInfo) -> str:
    if info.query is None:
        return esc(feed_description(info))
    return f"Query: <code>{esc(info.query)}</code>"


def _format_links(info: FeedInfo, settings: FeedSettings) -> str:
    links = (
        f'<a href="{esc(feed_url(info, settings, fmt))}">{FORMAT_LABELS[fmt]}</a>'
        for fmt in FEED_FORMATS
    )
    return " · ".join(links)


def _alternates(info: FeedInfo, settings: FeedSettings, formats: tuple[str, ...]) -> str:
    return "\n".join(
        f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}"'
        f' title="{esc(feed_title(info))} ({FORMAT_LABELS[fmt]})"'
        f' href="{esc(feed_url(info, settings, fmt))}">'
        for fmt in formats
    )


def _paper(entry: FeedEntry, settings: FeedSettings) -> str:
    title = clean(entry.title).strip() or "(untitled)"
    meta = [f"matched {rfc3339(entry.matched_at)}"]
    if byline(entry):
        meta.append(byline(entry))
    terms = [clean(term) for term in entry.matched_terms if clean(term).strip()]
    if terms:
        meta.append("matched words: " + ", ".join(terms))
    return (
        f'<li><article><h2><a href="{esc(entry_link(entry, settings))}">{esc(title)}</a></h2>'
        f'<p class="meta">{esc(" · ".join(meta))}</p>\n{summary_html(entry)}</article></li>'
    )


def _page(title: str, head: str, body: list[str]) -> bytes:
    page = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        head,
        f"<style>{_STYLE}</style>",
        "</head><body>",
        *body,
        "</body></html>",
    ]
    return ("\n".join(page) + "\n").encode("utf-8")
