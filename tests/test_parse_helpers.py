"""paper_key, find_code_urls and the date helpers, as tables."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from feedd.parse import find_code_urls, paper_key, reference_date_for
from feedd.parse.dates import latest_on_or_before, parse_date_line, parse_page_date


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Gradient Boosting Reinforcement Learning", "gradient boosting reinforcement learning"),
        ("Qwen2.5 Technical Report", "qwen2 5 technical report"),
        ("  KaLM-Embedding-V2: Superior  Training!  ", "kalm embedding v2 superior training"),
        (
            "Wings: Learning Multimodal LLMs\twithout Text-only Forgetting",
            "wings learning multimodal llms without text only forgetting",
        ),
        ("snake_case__and--dashes", "snake case and dashes"),
        ("ﬁne-tuning", "fine tuning"),  # NFKC: the ligature becomes two letters
        ("ＬＬＭ Ａｇｅｎｔｓ", "llm agents"),  # NFKC: full-width letters
        ("Straße", "strasse"),  # case folding, not just lower-casing
        ("Café", "café"),  # accents are letters, kept
        ("Cafe\u0301", "café"),  # decomposed accents compose under NFKC
        ("Σίσυφος", "σίσυφοσ"),
        ("大模型 LLM：评测", "大模型 llm 评测"),
        ("x² + y₂", "x2 y2"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_paper_key(title: str, key: str) -> None:
    assert paper_key(title) == key


def test_paper_key_is_the_same_for_ascii_and_unicode_paths() -> None:
    assert paper_key("Café: A Study") == "café a study"
    assert paper_key("Cafe: A Study") == "cafe a study"
    assert paper_key("A\u00a0Study") == paper_key("A Study")  # a no-break space is a space


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Code at https://github.com/Raibows/CREAM.", ("https://github.com/Raibows/CREAM",)),
        (
            "libraries (available at https://github.com/NVlabs/gbrl). GBRL",
            ("https://github.com/NVlabs/gbrl",),
        ),
        ("see https://github.com/a/b_(c) now", ("https://github.com/a/b_(c)",)),
        ("(see https://github.com/a/b_(c))", ("https://github.com/a/b_(c)",)),
        (
            "[https://github.com/m/SearchInstruct](https://github.com/m/SearchInstruct)",
            ("https://github.com/m/SearchInstruct",),
        ),
        (
            "https://gitlab.com/x/y, https://github.com/a/b; https://github.com/x/y!",
            ("https://gitlab.com/x/y", "https://github.com/a/b", "https://github.com/x/y"),
        ),
        (
            "https://github.com/a/b and again https://github.com/a/b.",
            ("https://github.com/a/b",),
        ),
        (
            "data: https://huggingface.co/datasets/nvidia/HelpSteer2 and http://bitbucket.org/u/r",
            ("https://huggingface.co/datasets/nvidia/HelpSteer2", "http://bitbucket.org/u/r"),
        ),
        ("HTTPS://GitHub.com/Org/Repo", ("HTTPS://GitHub.com/Org/Repo",)),
        ("https://www.github.com/a/b", ("https://www.github.com/a/b",)),
        ("https://gist.github.com/u/123abc", ("https://gist.github.com/u/123abc",)),
        ("https://user@github.com:443/a/b", ("https://user@github.com:443/a/b",)),
        ('"https://codeberg.org/a/b"', ("https://codeberg.org/a/b",)),
        (
            "https://sourceforge.net/projects/x/ https://gitee.com/a/b",
            ("https://sourceforge.net/projects/x/", "https://gitee.com/a/b"),
        ),
        ("https://github.com/wgcban/mix-bt.git", ("https://github.com/wgcban/mix-bt.git",)),
        ("Project page: https://robofume.github.io", ()),  # a website, not a repository
        ("https://example.com/github.com/a/b", ()),
        ("https://notgithub.com/a/b", ()),
        ("https://github.com and https://github.com/", ()),  # no repository named
        ("https://huggingface.co/papers/2410.12345", ()),  # a paper page, not code
        ("code at github.com/haoyangzheng-ai/didi-instruct", ()),  # no scheme
        ("ftp://github.com/a/b", ()),
        ("xhttps://github.com/a/b", ()),
        ("a/b and c://d and ://github.com/a", ()),
        ("", ()),
    ],
)
def test_find_code_urls(text: str, urls: tuple[str, ...]) -> None:
    assert find_code_urls(text) == urls


@pytest.mark.parametrize(
    ("month", "day", "limit", "expected"),
    [
        (10, 28, date(2026, 11, 22), date(2026, 10, 28)),
        (11, 22, date(2026, 11, 22), date(2026, 11, 22)),
        (11, 23, date(2026, 11, 22), date(2025, 11, 23)),
        (12, 30, date(2026, 1, 3), date(2025, 12, 30)),
        (2, 29, date(2026, 11, 22), date(2024, 2, 29)),
        (2, 29, date(2024, 2, 28), date(2020, 2, 29)),
        (2, 29, date(2101, 1, 1), date(2096, 2, 29)),  # 2100 is not a leap year
        (2, 30, date(2026, 11, 22), None),
        (4, 31, date(2026, 11, 22), None),
        (13, 1, date(2026, 11, 22), None),
        (1, 1, date(1, 1, 1), date(1, 1, 1)),
        (1, 2, date(1, 1, 1), None),
    ],
)
def test_latest_on_or_before(month: int, day: int, limit: date, expected: date | None) -> None:
    assert latest_on_or_before(month, day, limit) == expected


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        ("Jun 5, 2024", (6, 5, 2024, 0)),
        ("Jul 11, 2024 2", (7, 11, 2024, 2)),
        ("Sep 30 2", (9, 30, None, 2)),
        ("Sep 30", (9, 30, None, 0)),
        ("Dec 30, 2024 15", (12, 30, 2024, 15)),
        ("Sep 30 2024", (9, 30, None, 2024)),  # without its comma a number is upvotes
        ("Sept 30", None),
        ("jun 5", None),
        ("Jun 5,2024", None),
        ("Jun", None),
        ("", None),
    ],
)
def test_parse_date_line(line: str, parts: tuple[int, int, int | None, int] | None) -> None:
    assert parse_date_line(line) == parts


def test_parse_page_date() -> None:
    assert parse_page_date("Oct 28") == (10, 28)
    assert parse_page_date("Oct 28, 2024") is None
    assert parse_page_date("October 28") is None


MTIME = datetime(2026, 3, 4, 12, 0).timestamp()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dump-2024-10-28.txt", date(2024, 10, 28)),
        ("2024-10-28", date(2024, 10, 28)),
        ("papers_2025-02-29_2025-03-01.txt", date(2025, 3, 1)),  # the first *valid* date
        ("dump-2024-13-45.txt", date(2026, 3, 4)),
        ("20241028.txt", date(2026, 3, 4)),
        ("x12024-10-28.txt", date(2026, 3, 4)),  # part of a longer number
        ("/inbox/2020-01-01/dump.txt", date(2026, 3, 4)),  # the file's name, not its folder
        ("000_b5c2dc96a66d8542.txt", date(2026, 3, 4)),
    ],
)
def test_reference_date_for(name: str, expected: date) -> None:
    assert reference_date_for(name, MTIME) == expected
