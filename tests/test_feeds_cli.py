"""Static export and OPML from the command line, over a real database."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
from lxml import etree

from tests.dumpgen import HEADER, entry
from tests.test_cli import feedd

SETTINGS = (
    '[http]\nbase_url = "https://papers.example.org"\n'
    '[[subscriptions]]\nname = "kd"\ntitle = "Distillation"\nquery = \'"knowledge distillation"\'\n'
    '[[subscriptions]]\nname = "boosting"\nquery = "title:boosting"\n'
)


def test_feeds_build_writes_every_feed(tmp_path: Path, example_dumps: list[Path]) -> None:
    (tmp_path / "settings.toml").write_text(SETTINGS)
    assert (
        feedd(
            "ingest", "--config", "settings.toml", *map(str, example_dumps), cwd=tmp_path
        ).returncode
        == 0
    )
    built = feedd("feeds", "build", "--config", "settings.toml", "--output", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    folder = tmp_path / "out"
    for name in ("kd", "boosting", "all"):
        for ext in ("rss", "atom", "json"):
            assert (folder / "feeds" / f"{name}.{ext}").is_file(), (name, ext)
    boosting = feedparser.parse((folder / "feeds" / "boosting.atom").read_bytes())
    assert boosting.bozo == 0
    titles = {entry.title for entry in boosting.entries}
    assert "Gradient Boosting Reinforcement Learning" in titles
    assert all("boosting" in title.lower() for title in titles)
    assert boosting.feed.links[0].href.startswith("https://papers.example.org/")
    every = feedparser.parse((folder / "feeds" / "all.rss").read_bytes())
    assert len(every.entries) == 50  # [feeds] max_items


def test_opml_lists_every_feed(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(SETTINGS)
    result = feedd("opml", "--config", "settings.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outlines = etree.fromstring(result.stdout.encode()).findall(".//outline[@xmlUrl]")
    urls = sorted(o.get("xmlUrl") for o in outlines)
    assert urls == [
        "https://papers.example.org/feeds/all.rss",
        "https://papers.example.org/feeds/boosting.rss",
        "https://papers.example.org/feeds/kd.rss",
    ]


def test_feeds_build_needs_a_folder(tmp_path: Path) -> None:
    result = feedd("feeds", "build", cwd=tmp_path)
    assert result.returncode == 2
    assert "--output" in result.stderr


def test_hostile_text_in_a_dump_still_gives_valid_escaped_feeds(tmp_path: Path) -> None:
    title = "Break <script>alert(1)</script> ]]> \x01\x08 the 🔥 Parser"
    abstract = (
        "We show <b>bold</b> claims ]]> and &amp; entities, a bell \x07 and a form feed \x0c, "
        "with emoji 🧪 throughout; the student learns knowledge distillation anyway. " * 2
    )
    (tmp_path / "hostile.txt").write_text(
        HEADER + "byAK and the research community\n\nOct 28\n\n" + entry(title, abstract)
    )
    (tmp_path / "settings.toml").write_text(SETTINGS)
    assert feedd("ingest", "--config", "settings.toml", "hostile.txt", cwd=tmp_path).returncode == 0
    built = feedd("feeds", "build", "--config", "settings.toml", "--output", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    for ext in ("rss", "atom"):
        raw = (tmp_path / "out" / "feeds" / f"kd.{ext}").read_bytes()
        assert b"<script>" not in raw
        assert b"\x01" not in raw
        assert b"\x07" not in raw
        parsed = feedparser.parse(raw)
        assert parsed.bozo == 0, (ext, parsed.get("bozo_exception"))
        [item] = parsed.entries
        assert item.title == "Break <script>alert(1)</script> ]]>  the 🔥 Parser"
    data = json.loads((tmp_path / "out" / "feeds" / "kd.json").read_bytes())
    assert data["items"][0]["title"] == "Break <script>alert(1)</script> ]]>  the 🔥 Parser"
    assert "<script>" not in data["items"][0]["content_html"]
