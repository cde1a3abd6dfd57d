"""The HTTP app on a real uvicorn server (127.0.0.1, port 0), driven with httpx."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import feedparser
import httpx
import pytest
from lxml import etree

from feedd.errors import ConfigError
from feedd.publish import FeedEntry, FeedInfo, FeedSettings, Server, create_app
from feedd.publish.cache import DocumentCache
from feedd.publish.document import accepts_gzip, make_document, respond
from feedd.publish.memory import MemoryFeedSource

SETTINGS = FeedSettings(base_url="http://feeds.example", max_items=20)
AI = FeedInfo(name="ai", title="AI papers", query="llm")
MEDIA = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
START = datetime(2024, 6, 1, tzinfo=UTC)


def paper(paper_id: int, upvotes: int = 1) -> FeedEntry:
    return FeedEntry(
        paper_id=paper_id,
        title=f"Paper {paper_id} about LLMs",
        abstract="Large language models, again. " * 20,
        authors=("Ada Lovelace",),
        authors_count=1,
        organisation=None,
        published=START.date(),
        upvotes=upvotes,
        arxiv_id=f"2406.{paper_id:05d}",
        code_urls=(),
        matched_at=START + timedelta(hours=paper_id),
        matched_terms=("llm",),
    )


@dataclass
class Site:
    source: MemoryFeedSource
    client: httpx.Client


@pytest.fixture
def site() -> Iterator[Site]:
    source = MemoryFeedSource([AI], {"ai": [paper(1), paper(2)]})
    server = Server(create_app(source, SETTINGS), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            yield Site(source, client)
    finally:
        assert server.stop(5)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_feeds_have_their_content_types(site: Site, fmt: str) -> None:
    response = site.client.get(f"/feeds/ai.{fmt}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == MEDIA[fmt]
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["last-modified"] == "Sat, 01 Jun 2024 02:00:00 GMT"
    if fmt != "json":
        parsed = feedparser.parse(response.content)
        assert parsed.bozo == 0
        assert [e.id for e in parsed.entries] == [
            "tag:feedd,2024:paper/2",
            "tag:feedd,2024:paper/1",
        ]
    else:
        assert response.json()["title"] == "AI papers"


def test_repeat_request_with_the_etag_gets_an_empty_304(site: Site) -> None:
    first = site.client.get("/feeds/ai.atom")
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong
    again = site.client.get("/feeds/ai.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = site.client.get("/feeds/ai.atom", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304


def test_if_modified_since(site: Site) -> None:
    stamp = site.client.get("/feeds/ai.rss").headers["last-modified"]
    assert site.client.get("/feeds/ai.rss", headers={"If-Modified-Since": stamp}).status_code == 304
    older = "Sat, 01 Jun 2024 01:59:59 GMT"
    assert site.client.get("/feeds/ai.rss", headers={"If-Modified-Since": older}).status_code == 200
    garbage = site.client.get("/feeds/ai.rss", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200


def test_if_none_match_wins_over_if_modified_since(site: Site) -> None:
    stamp = site.client.get("/feeds/ai.rss").headers["last-modified"]
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": stamp}
    response = site.client.get("/feeds/ai.rss", headers=headers)
    assert response.status_code == 200
    assert response.content


def test_head_has_headers_and_no_body(site: Site) -> None:
    get = site.client.get("/feeds/ai.json", headers={"Accept-Encoding": "identity"})
    head = site.client.head("/feeds/ai.json", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"]


def test_gzip_only_when_asked(site: Site) -> None:
    plain = site.client.get("/feeds/ai.rss", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = site.client.get("/feeds/ai.rss", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # httpx decoded it
    assert int(packed.headers["content-length"]) < len(plain.content)
    assert packed.headers["etag"] != plain.headers["etag"]
    refused = site.client.get("/feeds/ai.rss", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_unknown_feed_gets_a_helpful_404(site: Site) -> None:
    response = site.client.get("/feeds/nope.rss")
    assert response.status_code == 404
    assert "nope" in response.text
    assert "http://feeds.example/feeds/ai.rss" in response.text
    assert "http://feeds.example/feeds/all.rss" in response.text
    elsewhere = site.client.get("/nothing/here")
    assert elsewhere.status_code == 404
    assert "/feeds/<name>.rss" in elsewhere.text


def test_only_reads_are_allowed(site: Site) -> None:
    response = site.client.post("/feeds/ai.rss")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_cached_polls_cost_no_query_and_new_matches_show_up(site: Site) -> None:
    first = site.client.get("/feeds/ai.rss")
    calls = site.source.entries_calls
    for _ in range(5):
        assert site.client.get("/feeds/ai.rss", headers={"If-None-Match": first.headers["etag"]})
    assert site.source.entries_calls == calls
    site.source.put("ai", [paper(1), paper(2), paper(3)])
    fresh = site.client.get("/feeds/ai.rss", headers={"If-None-Match": first.headers["etag"]})
    assert fresh.status_code == 200
    assert feedparser.parse(fresh.content).entries[0].id == "tag:feedd,2024:paper/3"
    assert fresh.headers["last-modified"] == "Sat, 01 Jun 2024 03:00:00 GMT"


def test_a_version_bump_without_changes_still_answers_304(site: Site) -> None:
    etag = site.client.get("/feeds/ai.atom").headers["etag"]
    site.source.put("ai", [paper(2), paper(1)])  # same data, new version: re-rendered
    response = site.client.get("/feeds/ai.atom", headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_an_upvote_update_keeps_entry_ids(site: Site) -> None:
    before = feedparser.parse(site.client.get("/feeds/ai.atom").content)
    site.source.put("ai", [paper(1, upvotes=50), paper(2, upvotes=99)])
    after = feedparser.parse(site.client.get("/feeds/ai.atom").content)
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    assert "Upvotes:</strong> 99" in after.entries[0].summary


def test_healthz(site: Site) -> None:
    ok = site.client.get("/healthz")
    assert ok.status_code == 200
    assert ok.json()["ok"] is True
    site.source.healthy = False
    down = site.client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["ok"] is False


def test_opml_lists_every_feed(site: Site) -> None:
    response = site.client.get("/opml")
    assert response.status_code == 200
    outlines = etree.fromstring(response.content).findall("body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [
        "http://feeds.example/feeds/all.rss",
        "http://feeds.example/feeds/ai.rss",
    ]


def test_html_pages_carry_alternate_links(site: Site) -> None:
    page = site.client.get("/feeds/ai")
    assert page.headers["content-type"].startswith("text/html")
    for fmt in ("rss", "atom", "json"):
        assert f'type="{MEDIA[fmt]}"' in page.text
        assert f'href="http://feeds.example/feeds/ai.{fmt}"' in page.text
    assert "Paper 2 about LLMs" in page.text
    index = site.client.get("/")
    assert '<link rel="alternate" type="application/rss+xml"' in index.text
    assert "http://feeds.example/feeds/ai.atom" in index.text
    assert "http://feeds.example/opml" in index.text


def test_the_all_feed_lists_every_paper(site: Site) -> None:
    parsed = feedparser.parse(site.client.get("/feeds/all.atom").content)
    assert parsed.feed.title == "All papers"
    assert len(parsed.entries) == 2


def test_a_failing_source_answers_503(site: Site) -> None:
    def broken(name: str, limit: int) -> list[FeedEntry] | None:
        raise RuntimeError("database is gone")

    site.source.entries = broken  # type: ignore[method-assign]
    site.source.put("ai", [])
    response = site.client.get("/feeds/ai.rss")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"gzip", True),
        (b"deflate, gzip;q=0.5", True),
        (b"GZIP", True),
        (b"gzip;q=0", False),
        (b"gzip; q=0.0", False),
        (b"identity", False),
        (b"*", True),
        (b"*;q=0", False),
        (b"gzip;q=0, *", False),
        (b"br, *;q=0.1", True),
    ],
)
def test_accept_encoding(header: bytes, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_respond_prepares_every_variant() -> None:
    document = make_document(b"<x/>" * 100, "text/xml", START, 60)
    status, headers, body = respond(document, "GET", [(b"accept-encoding", b"gzip")])
    assert status == 200
    assert gzip.decompress(body) == document.body
    assert (b"content-length", str(len(body)).encode()) in headers
    status, headers, body = respond(document, "GET", [(b"if-none-match", b"*")])
    assert (status, body) == (304, b"")
    assert not [name for name, _ in headers if name in (b"content-length", b"content-type")]
    status, _, body = respond(document, "HEAD", [])
    assert (status, body) == (200, b"")


def test_a_crowd_of_misses_renders_once() -> None:
    source = MemoryFeedSource([AI], {"ai": [paper(1)]})
    cache = DocumentCache(source, SETTINGS)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("ai", "rss")))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert source.entries_calls == 1
    assert len({id(result) for result in results}) == 1
    assert cache.get(("nope", "rss")) is None
    assert source.entries_calls == 1  # unknown names never reach the source


def test_a_taken_port_is_a_config_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = Server(
            create_app(MemoryFeedSource(), SETTINGS), "127.0.0.1", taken.getsockname()[1]
        )
        with pytest.raises(ConfigError, match=r"\[http\] listen"):
            server.start()
        assert server.stop(1)
