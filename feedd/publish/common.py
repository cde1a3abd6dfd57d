"""What every renderer shares: clean text, stable ids, links, dates and the entry summary.

Everything a dump supplied is untrusted text: it passes through ``clean`` (XML cannot carry
control characters, and lxml refuses to serialise them) and, in HTML, through ``html.escape``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time
from urllib.parse import quote, quote_plus

from feedd.publish.model import FeedEntry, FeedInfo, FeedSettings

# XML 1.0 Char production, minus the C1 block and DEL (legal but "discouraged", and some
# readers choke on them); lone surrogates go too, they cannot even be encoded as UTF-8.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "updated" of a feed that has no entries yet
FEED_FORMATS = ("rss", "atom", "json")
FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
_MAX_BYLINE_NAMES = 12


def clean(text: str) -> str:
    """Drop every character XML 1.0 cannot carry."""
    return _NOT_XML.sub("", text)


def utc(moment: datetime) -> datetime:
    """Aware UTC, whole seconds: feedgen raises on naive datetimes, and HTTP dates have seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def day_start(day: date) -> datetime:
    """A paper's date as a timestamp (Atom wants a date-time)."""
    return datetime.combine(day, time(), tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_first(entries: list[FeedEntry], limit: int) -> list[FeedEntry]:
    """Sort defensively (the order is the contract readers see) and cut at the item limit."""
    ordered = sorted(entries, key=lambda e: (utc(e.matched_at), e.paper_id), reverse=True)
    return ordered[: max(limit, 0)]


def feed_updated(entries: list[FeedEntry]) -> datetime:
    """The newest match, never *now*: the same data must give the same bytes and ETag."""
    return max((utc(entry.matched_at) for entry in entries), default=EPOCH)


def entry_id(entry: FeedEntry, settings: FeedSettings) -> str:
    # From the stored id only: a new base_url, a retitled paper or more upvotes must never make
    # a reader think it is a new entry.
    return f"tag:{settings.tag_authority},2024:paper/{entry.paper_id}"


def feed_id(info: FeedInfo, settings: FeedSettings) -> str:
    return f"tag:{settings.tag_authority},2024:feed/{info.name}"


def entry_link(entry: FeedEntry, settings: FeedSettings) -> str:
    """The paper's page when its arXiv id is known, else a search for its title."""
    title = quote_plus(clean(entry.title))
    if entry.arxiv_id:
        template = settings.link_template
        arxiv_id = quote(clean(entry.arxiv_id), safe="/")
        return template.replace("{arxiv_id}", arxiv_id).replace("{title}", title)
    return settings.search_template.replace("{title}", title)


def feed_url(info: FeedInfo, settings: FeedSettings, fmt: str) -> str:
    return f"{settings.base_url}/feeds/{quote(info.name)}.{fmt}"


def page_url(info: FeedInfo, settings: FeedSettings) -> str:
    return f"{settings.base_url}/feeds/{quote(info.name)}"


def feed_title(info: FeedInfo) -> str:
    return clean(info.title or info.name)


def feed_description(info: FeedInfo) -> str:
    if info.query is None:
        return "Every paper feedd has stored, newest first."
    return clean(f"Papers matching {info.query}")


def byline(entry: FeedEntry) -> str:
    """Author names when known, else "N authors", else the organisation."""
    names = [clean(name) for name in entry.authors if clean(name).strip()]
    if names:
        shown = ", ".join(names[:_MAX_BYLINE_NAMES])
        rest = len(names) - _MAX_BYLINE_NAMES
        return f"{shown} and {rest} more" if rest > 0 else shown
    if entry.authors_count:
        return f"{entry.authors_count} author" + ("s" if entry.authors_count != 1 else "")
    return clean(entry.organisation or "")


def is_web_url(url: str) -> bool:
    # Only these become href attributes: a dump must not smuggle in a javascript: link.
    return url.startswith(("https://", "http://"))


def summary_html(entry: FeedEntry) -> str:
    """The entry body: abstract, authors, date, upvotes and code links, all escaped."""
    parts = []
    if entry.abstract.strip():
        parts.append(f"<p>{_esc(entry.abstract)}</p>")
    facts = _facts(entry)
    if facts:
        parts.append("<p>" + "<br>".join(facts) + "</p>")
    links = [_code_link(url) for url in entry.code_urls if clean(url).strip()]
    if links:
        parts.append("<p><strong>Code:</strong> " + " · ".join(links) + "</p>")
    return "\n".join(parts) or "<p>(no abstract)</p>"


def _facts(entry: FeedEntry) -> list[str]:
    facts = []
    who = byline(entry)
    if who:
        facts.append(f"<strong>Authors:</strong> {_esc(who)}")
    if entry.organisation and entry.authors and clean(entry.organisation).strip():
        facts.append(f"<strong>Organisation:</strong> {_esc(entry.organisation)}")
    if entry.published is not None:
        facts.append(f"<strong>Published:</strong> {entry.published.isoformat()}")
    if entry.upvotes is not None:
        facts.append(f"<strong>Upvotes:</strong> {entry.upvotes}")
    if entry.arxiv_id:
        facts.append(f"<strong>arXiv:</strong> {_esc(entry.arxiv_id)}")
    return facts


def _code_link(url: str) -> str:
    if is_web_url(clean(url)):
        return f'<a href="{_esc(url)}">{_esc(url)}</a>'
    return _esc(url)


def _esc(text: str) -> str:
    return html.escape(clean(text), quote=True)
