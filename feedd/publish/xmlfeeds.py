"""RSS 2.0 and Atom 1.0 through feedgen, with its traps disarmed.

feedgen's defaults would break what readers rely on, so every call here is deliberate:
- ``updated``/``lastBuildDate`` default to *now*: set from the data, so the same data gives the
  same bytes (and ETag) and a poll with nothing new costs the reader nothing;
- ``add_entry`` prepends: entries are appended, in our newest-first order;
- naive datetimes raise: every date goes through ``common.utc``;
- lxml refuses control characters: every string goes through ``common.clean``;
- ``published`` sets Atom's published *and* RSS's pubDate, which must differ (paper date vs
  match time), so each format gets its own generator.
"""

from __future__ import annotations

from feedgen.entry import FeedEntry as FeedgenEntry  # type: ignore[import-untyped]
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from feedd.publish.common import (
    MEDIA_TYPES,
    clean,
    day_start,
    entry_id,
    entry_link,
    feed_description,
    feed_id,
    feed_title,
    feed_updated,
    feed_url,
    newest_first,
    page_url,
    summary_html,
    utc,
)
from feedd.publish.model import FeedEntry, FeedInfo, FeedSettings

_GENERATOR = "feedd"


def render_rss(info: FeedInfo, entries: list[FeedEntry], settings: FeedSettings) -> bytes:
    """RSS 2.0; an item's pubDate is when feedd matched it, so readers show it as new then."""
    chosen = newest_first(entries, settings.max_items)
    generator = _generator(info, chosen, settings, "rss")
    generator.load_extension("dc", atom=False, rss=True)  # dc:creator: RSS <author> needs e-mails
    generator.language("en")
    for entry in chosen:
        item = _common_entry(generator, entry, settings)
        item.description(summary_html(entry))
        item.pubDate(utc(entry.matched_at))
        names = _author_names(entry)
        if names:
            item.dc.dc_creator(names)
    return bytes(generator.rss_str(pretty=True))


def render_atom(info: FeedInfo, entries: list[FeedEntry], settings: FeedSettings) -> bytes:
    """Atom 1.0; ``published`` is the paper's date, ``updated`` the match time."""
    chosen = newest_first(entries, settings.max_items)
    generator = _generator(info, chosen, settings, "atom")
    # RFC 4287 wants an author on the feed unless every entry has one; not every paper does.
    generator.author(name=_GENERATOR)
    generator.link(href=page_url(info, settings), rel="alternate", type="text/html")
    for entry in chosen:
        item = _common_entry(generator, entry, settings)
        item.content(summary_html(entry), type="html")
        item.updated(utc(entry.matched_at))
        if entry.published is not None:
            item.published(day_start(entry.published))
        for name in _author_names(entry):
            item.author(name=name)
    return bytes(generator.atom_str(pretty=True))


def _generator(
    info: FeedInfo, entries: list[FeedEntry], settings: FeedSettings, fmt: str
) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed_id(info, settings))
    generator.title(feed_title(info))
    generator.description(feed_description(info))
    generator.generator(_GENERATOR)
    generator.updated(feed_updated(entries))
    generator.link(href=feed_url(info, settings, fmt), rel="self", type=MEDIA_TYPES[fmt])
    if fmt == "rss":
        # RSS's channel <link> is the last "alternate" link; Atom adds its own in render_atom.
        generator.link(href=page_url(info, settings), rel="alternate")
    return generator


def _common_entry(
    generator: FeedGenerator, entry: FeedEntry, settings: FeedSettings
) -> FeedgenEntry:
    item = generator.add_entry(order="append")
    item.id(entry_id(entry, settings))
    item.title(clean(entry.title).strip() or "(untitled)")
    item.link(href=entry_link(entry, settings), rel="alternate")
    for term in entry.matched_terms:
        if clean(term).strip():
            item.category(term=clean(term))
    return item


def _author_names(entry: FeedEntry) -> list[str]:
    names = [clean(name).strip() for name in entry.authors]
    names = [name for name in names if name]
    if not names and entry.organisation and clean(entry.organisation).strip():
        names = [clean(entry.organisation).strip()]
    return names
