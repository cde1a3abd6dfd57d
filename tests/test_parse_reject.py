"""What is not a dump is rejected with one readable line that says what was found."""

from __future__ import annotations

import json
from datetime import date

import pytest

from feedd.errors import DumpRejected
from feedd.parse import parse_bytes

PROSE = b"""It was a dark and stormy night; the rain fell in torrents, except at occasional
intervals.

When it was checked by a violent gust of wind which swept up the streets (for it is in London
that our scene lies), rattling along the housetops, and fiercely agitating the scanty flame of the
lamps that struggled against the darkness.

Through one of the obscurest quarters of London, and among haunts little loved by the gentlemen of
the police, a man, evidently of the lowest orders, was wending his solitary way.
"""
CSV = b"title,abstract,authors\nGradient Boosting RL,Neural networks achieve...,3\nFoo,Bar,1\n"
PYTHON = b'"""A module."""\n\nimport os\n\n\ndef main() -> None:\n    print(os.getcwd())\n'
ABSTRACT = (
    "An abstract long enough to be one, with more than a hundred characters of plain text in it."
)


def _reason(data: bytes) -> str:
    with pytest.raises(DumpRejected) as caught:
        parse_bytes(data, reference_date=date(2026, 11, 22))
    return caught.value.message


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        pytest.param(b"", "empty file (0 bytes)", id="empty"),
        pytest.param(b" \n\t\r\n\n   ", "only whitespace", id="whitespace"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes", id="png"),
        pytest.param(bytes(range(256)) * 8, "NUL bytes", id="all-bytes"),
        pytest.param(bytes(range(128, 256)) * 8, "not UTF-8 text", id="high-bytes"),
        pytest.param(b"\x01\x02\x03\x04\x05\x06garbage" * 20, "binary data", id="control-bytes"),
        pytest.param("Café au lait, crème brûlée".encode("latin-1"), "not UTF-8", id="latin-1"),
        pytest.param("new\nDaily Papers\nOct 28".encode("utf-16"), "UTF-16", id="utf-16"),
        pytest.param(PROSE, "starts with 'It was a dark and stormy night;", id="prose"),
        pytest.param(CSV, "starts with 'title,abstract,authors'", id="csv"),
        pytest.param(PYTHON, "not a Daily Papers dump", id="python"),
        pytest.param(b'{"papers": []}', "a JSON object", id="json-object"),
        pytest.param(b"[1, 2, 3]", "none of them a daily-papers object", id="json-numbers"),
        pytest.param(
            json.dumps([{"name": "x", "id": 1}]).encode(),
            "none of them a daily-papers object",
            id="json-other-objects",
        ),
        pytest.param(b"[]", "an empty JSON list", id="json-empty"),
        pytest.param(b"[section]\nkey = value\n", "not a daily-papers JSON list", id="ini"),
        pytest.param(b"[" * 100_000, "not a daily-papers JSON list", id="json-nested"),
        pytest.param(
            b"new\n\nDaily Papers\n\nOct 28\n", "no paper entries", id="header-without-entries"
        ),
        pytest.param(
            b"Oct 28\n\n" + b"x" * 600 + b"\n\n" + ABSTRACT.encode(),
            "600-character line",
            id="page-date-then-paragraph",
        ),
        pytest.param(
            b"Daily Papers\n\nOct 28\n\n" + b"\n\n".join(b"short line %d" % n for n in range(12)),
            "under 100 characters",
            id="header-then-short-lines",
        ),
        pytest.param(
            b"Daily Papers\n\nOct 28\n\nA Title\n\n%s\n\n%s"
            % (ABSTRACT.encode(), (b"y" * 700 + b"\n") * 12),
            "fit no paper entry",
            id="header-then-long-paragraphs",
        ),
        pytest.param(
            b"Daily Papers\n\nOct 28\n\n???\n\n" + ABSTRACT.encode(),
            "no paper entries",
            id="only-a-title-without-letters",
        ),
        pytest.param(
            b"Daily Papers\n\nMy notes on reading papers.\n\n%s\n" % ABSTRACT.encode(),
            "it starts with 'Daily Papers'",
            id="a-note-titled-daily-papers",
        ),
        pytest.param(b"x" * 70_000, "longer than 64 KiB", id="one-huge-line"),
        pytest.param(
            "It was a stormy night, caf\xe9 closed.\n".encode("latin-1") * 3,
            "not a Daily Papers dump",
            id="invalid-utf8-prose",
        ),
    ],
)
def test_rejected_with_a_reason(data: bytes, phrase: str) -> None:
    reason = _reason(data)
    assert phrase in reason
    assert "\n" not in reason  # one line: it goes into <name>.error.txt and logs


def test_invalid_utf8_prose_says_so() -> None:
    reason = _reason("It was a stormy night, caf\xe9 closed.\n".encode("latin-1") * 3)
    assert "not UTF-8" in reason


def test_no_entries_names_the_first_problem() -> None:
    reason = _reason(b"Daily Papers\n\nOct 28\n\n???\n\n" + ABSTRACT.encode())
    assert reason.endswith("(1 problem; the first: line 5: title '???' has no letters or digits)")


def test_reasons_say_what_a_dump_looks_like() -> None:
    assert "Daily Papers page" in _reason(b"")
    assert "page date such as 'Oct 28'" in _reason(CSV)
