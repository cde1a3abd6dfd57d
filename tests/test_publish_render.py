"""Feed rendering: what real parsers and the Atom schema make of our bytes."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedd.publish import (
    ALL_FEED,
    FeedEntry,
    FeedInfo,
    FeedSettings,
    export_feeds,
    render_atom,
    render_html_feed,
    render_index,
    render_json_feed,
    render_opml,
    render_rss,
)
from feedd.publish.common import clean
from feedd.publish.memory import MemoryFeedSource

DATA = Path(__file__).resolve().parent / "data" / "publish"
SETTINGS = FeedSettings(base_url="http://feeds.example/", max_items=50)
INFO = FeedInfo(name="diffusion", title="Diffusion papers", query='diffusion OR "<b>x</b>"')
XML_RENDERERS = {"rss": render_rss, "atom": render_atom}
EXPECTED_ORDER = [102, 101, 104, 103]  # matched_at desc, then paper_id desc


def load_entries() -> list[FeedEntry]:
    raw = json.loads((DATA / "entries.json").read_text(encoding="utf-8"))
    return [_entry(item) for item in raw]


def _entry(item: dict[str, object]) -> FeedEntry:
    values = dict(item)
    for key in ("authors", "code_urls", "matched_terms"):
        values[key] = tuple(values[key])  # type: ignore[arg-type]
    if values["published"] is not None:
        values["published"] = date.fromisoformat(str(values["published"]))
    values["matched_at"] = datetime.fromisoformat(str(values["matched_at"]))
    return FeedEntry(**values)  # type: ignore[arg-type]


def parse(data: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


@pytest.fixture(scope="module")
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(DATA / "atom.rng")))


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xml_feeds_parse_cleanly_newest_first(fmt: str) -> None:
    entries = load_entries()
    parsed = parse(XML_RENDERERS[fmt](INFO, entries, SETTINGS))
    assert parsed.version == {"rss": "rss20", "atom": "atom10"}[fmt]
    assert parsed.feed.title == "Diffusion papers"
    ids = [item.id for item in parsed.entries]
    assert ids == [f"tag:feedd,2024:paper/{n}" for n in EXPECTED_ORDER]
    first = parsed.entries[1]
    assert first.title == "Scaling Diffusion Transformers"
    assert first.link == "https://huggingface.co/papers/2406.01234"
    assert "Ada Lovelace" in first.summary
    assert "https://github.com/acme/dit" in first.summary
    assert "Upvotes:</strong> 12" in first.summary
    assert [tag.term for tag in first.tags] == ["diffusion"]


def test_rss_item_date_is_the_match_time() -> None:
    parsed = parse(render_rss(INFO, load_entries(), SETTINGS))
    assert parsed.entries[1].published == "Fri, 07 Jun 2024 08:30:00 +0000"
    assert parsed.feed.updated == "Fri, 07 Jun 2024 09:00:00 +0000"
    assert parsed.feed.link == "http://feeds.example/feeds/diffusion"


def test_atom_carries_paper_date_and_match_time() -> None:
    parsed = parse(render_atom(INFO, load_entries(), SETTINGS))
    paper = parsed.entries[1]
    assert paper.published == "2024-06-05T00:00:00+00:00"
    assert paper.updated == "2024-06-07T08:30:00+00:00"
    assert parsed.feed.updated == "2024-06-07T09:00:00+00:00"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "http://feeds.example/feeds/diffusion.atom"
    assert links["alternate"] == "http://feeds.example/feeds/diffusion"


@pytest.mark.parametrize("count", [0, 1, 4])
def test_atom_validates_against_rfc4287_schema(atom_schema: etree.RelaxNG, count: int) -> None:
    document = etree.fromstring(render_atom(INFO, load_entries()[:count], SETTINGS))
    assert atom_schema.validate(document), atom_schema.error_log


def test_schema_rejects_a_broken_feed(atom_schema: etree.RelaxNG) -> None:
    data = render_atom(INFO, load_entries(), SETTINGS).replace(
        b"<id>tag:feedd,2024:feed/", b"<x>", 1
    )
    assert not atom_schema.validate(etree.fromstring(data.replace(b"diffusion</id>", b"</x>", 1)))


def test_json_feed_has_the_required_fields() -> None:
    feed = json.loads(render_json_feed(INFO, load_entries(), SETTINGS))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "Diffusion papers"
    assert feed["feed_url"] == "http://feeds.example/feeds/diffusion.json"
    assert [item["id"] for item in feed["items"]] == [
        f"tag:feedd,2024:paper/{n}" for n in EXPECTED_ORDER
    ]
    for item in feed["items"]:
        assert isinstance(item["id"], str)
        assert item["content_html"]
        assert item["date_published"].endswith("Z")
    paper = feed["items"][1]
    assert paper["authors"] == [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}]
    assert paper["_feedd"]["published"] == "2024-06-05"
    assert paper["_feedd"]["upvotes"] == 12
    assert paper["date_published"] == "2024-06-07T08:30:00Z"


def test_nasty_text_is_cleaned_and_escaped_everywhere(atom_schema: etree.RelaxNG) -> None:
    nasty = next(entry for entry in load_entries() if entry.paper_id == 102)
    wanted = clean(nasty.title)
    assert "\x00" not in wanted
    assert "\ud800" not in wanted
    assert "\U0001f680" in wanted
    for fmt, render in XML_RENDERERS.items():
        data = render(INFO, [nasty], SETTINGS)
        assert b"<script>" not in data, fmt
        item = parse(data).entries[0]
        assert item.title == wanted, fmt
        assert "&lt;script&gt;" in item.summary, fmt
        assert "<script" not in item.summary, fmt
        assert 'href="javascript:' not in item.summary, fmt
    assert atom_schema.validate(etree.fromstring(render_atom(INFO, [nasty], SETTINGS)))
    item = json.loads(render_json_feed(INFO, [nasty], SETTINGS))["items"][0]
    assert item["title"] == wanted
    assert "<script" not in item["content_html"]
    page = render_html_feed(INFO, [nasty], SETTINGS)
    assert b"<script" not in page
    assert html.escape(wanted).encode() in page
    assert b'href="javascript:' not in page


def test_same_input_gives_the_same_bytes() -> None:
    entries = load_entries()
    for render in (render_rss, render_atom, render_json_feed, render_html_feed):
        assert render(INFO, entries, SETTINGS) == render(INFO, list(reversed(entries)), SETTINGS)
    feeds = [ALL_FEED, INFO]
    assert render_opml(feeds, SETTINGS) == render_opml(feeds, SETTINGS)


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_entry_ids_survive_upvotes_titles_and_a_new_base_url(fmt: str) -> None:
    entries = load_entries()
    changed = [
        dataclasses.replace(e, upvotes=(e.upvotes or 0) + 100, title=e.title + "!") for e in entries
    ]
    moved = dataclasses.replace(SETTINGS, base_url="https://elsewhere.example")
    before = [item.id for item in parse(XML_RENDERERS[fmt](INFO, entries, SETTINGS)).entries]
    after = [item.id for item in parse(XML_RENDERERS[fmt](INFO, changed, moved)).entries]
    assert before == after


def test_max_items_keeps_the_newest() -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    entries = [_plain(n, base + timedelta(hours=n)) for n in range(10)]
    few = dataclasses.replace(SETTINGS, max_items=3)
    parsed = parse(render_atom(INFO, entries, few))
    assert [item.id[-1] for item in parsed.entries] == ["9", "8", "7"]
    assert len(json.loads(render_json_feed(INFO, entries, few))["items"]) == 3


def test_empty_feed_is_valid_and_dated_at_the_epoch() -> None:
    parsed = parse(render_atom(INFO, [], SETTINGS))
    assert parsed.entries == []
    assert parsed.feed.updated == "1970-01-01T00:00:00+00:00"
    assert parse(render_rss(INFO, [], SETTINGS)).entries == []


def test_naive_match_time_is_taken_as_utc() -> None:
    entry = _plain(1, datetime(2024, 3, 1, 12, 0, 0, 999))
    parsed = parse(render_atom(INFO, [entry], SETTINGS))
    assert parsed.entries[0].updated == "2024-03-01T12:00:00+00:00"


def test_links_come_from_the_templates() -> None:
    settings = dataclasses.replace(
        SETTINGS,
        link_template="https://arxiv.org/abs/{arxiv_id}",
        search_template="https://search.example/?q={title}",
    )
    known = dataclasses.replace(_plain(1, datetime(2024, 1, 1, tzinfo=UTC)), arxiv_id="2401.00001")
    unknown = dataclasses.replace(known, paper_id=2, arxiv_id=None, title="A & B: 100% sure?")
    items = parse(render_rss(INFO, [known, unknown], settings)).entries
    assert items[0].link == "https://search.example/?q=A+%26+B%3A+100%25+sure%3F"
    assert items[1].link == "https://arxiv.org/abs/2401.00001"


def test_opml_lists_every_feed() -> None:
    feeds = [ALL_FEED, INFO, FeedInfo("b&b", "Bed & <Breakfast>", "bed")]
    outlines = etree.fromstring(render_opml(feeds, SETTINGS)).findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        "http://feeds.example/feeds/all.rss",
        "http://feeds.example/feeds/diffusion.rss",
        "http://feeds.example/feeds/b%26b.rss",
    ]
    assert outlines[2].get("title") == "Bed & <Breakfast>"


def test_html_pages_announce_their_feeds() -> None:
    page = render_html_feed(INFO, load_entries(), SETTINGS).decode()
    for fmt, kind in (("rss", "rss+xml"), ("atom", "atom+xml"), ("json", "feed+json")):
        assert f'<link rel="alternate" type="application/{kind}" title="Diffusion papers' in page
        assert f'href="http://feeds.example/feeds/diffusion.{fmt}"' in page
    assert page.index("Scaling Diffusion") > page.index("Evil")  # newest first
    index = render_index([ALL_FEED, INFO], SETTINGS).decode()
    assert 'href="http://feeds.example/feeds/all.atom"' in index
    assert 'rel="alternate" type="application/rss+xml"' in index
    assert "http://feeds.example/opml" in index
    assert "&lt;b&gt;x&lt;/b&gt;" in index


def test_export_writes_every_file_and_leaves_unchanged_ones_alone(tmp_path: Path) -> None:
    source = MemoryFeedSource([INFO], {"diffusion": load_entries()})
    paths = export_feeds(source, SETTINGS, tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in paths)
    assert names == sorted(
        [
            f"feeds/{n}.{ext}"
            for n in ("all", "diffusion")
            for ext in ("rss", "atom", "json", "html")
        ]
        + ["opml.xml", "index.html"]
    )
    for path in paths:
        assert path.is_file()
        if path.suffix in (".rss", ".atom"):
            parse(path.read_bytes())
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left
    stamp = (tmp_path / "feeds/diffusion.rss").stat().st_mtime_ns
    os.utime(tmp_path / "feeds/diffusion.rss", ns=(stamp - 10**9, stamp - 10**9))
    export_feeds(source, SETTINGS, tmp_path)
    assert (tmp_path / "feeds/diffusion.rss").stat().st_mtime_ns == stamp - 10**9


def _plain(paper_id: int, matched_at: datetime) -> FeedEntry:
    return FeedEntry(
        paper_id=paper_id,
        title=f"Paper {paper_id}",
        abstract="An abstract.",
        authors=(),
        authors_count=3,
        organisation=None,
        published=None,
        upvotes=None,
        arxiv_id=None,
        code_urls=(),
        matched_at=matched_at,
    )
