"""Property tests: no input crashes the parsers, and what they return is well formed."""

from __future__ import annotations

import io
import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedd.errors import DumpRejected
from feedd.parse import PaperRecord, open_dump, parse_bytes
from tests.test_parse_text import Trickle

REFERENCE = date(2026, 11, 22)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DUMP_LINES = [
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
    "Oct 28",
    "Feb 29",
    "Feb 30",
    "Gradient Boosting Reinforcement Learning",
    "Qwen2.5 Technical Report",
    "???",
    "Neural networks (NN) achieve remarkable results in various tasks, but lack key "
    "characteristics (available at https://github.com/NVlabs/gbrl). GBRL expands the toolkit.",
    "  • 10 authors",
    "  • 1 authors",
    "  • x authors",
    "ontocord Ontocord.AI",
    "·",
    "•",
    "Jun 5, 2024",
    "Jul 11, 2024 2",
    "Sep 30 2",
    "Dec 31, 9999 999999999",
    "",
    "   ",
    "x" * 600,
    "\ufeff",
    "[",
    "{",
]
SEPARATORS = st.sampled_from(["\n", "\r\n", "\n\n", " \n", "\r"])


def _check(data: bytes) -> list[PaperRecord]:
    """Parse: the only exception allowed is DumpRejected, and records must be well formed."""
    try:
        _, records, warnings = parse_bytes(data, reference_date=REFERENCE)
    except DumpRejected as rejected:
        reason = rejected.message
        return _rejected(reason)
    assert records
    for record in records:
        assert record.key
        assert record.title
        assert record.key == record.key.strip()
        assert isinstance(record.abstract, str)
        assert record.upvotes is None or record.upvotes >= 0
    assert all(w.message for w in warnings)
    return records


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(data)


@FUZZ
@given(
    st.lists(st.sampled_from(DUMP_LINES) | st.text(max_size=40), max_size=60),
    SEPARATORS,
    st.booleans(),
)
def test_dump_like_lines(lines: list[str], separator: str, bom: bool) -> None:
    data = ("\ufeff" if bom else "") + separator.join(lines)
    _check(data.encode("utf-8", "surrogatepass"))


LONG_TEXT = st.text(min_size=100, max_size=300).filter(lambda t: "\n" not in t and "\r" not in t)
META_LINES = st.sampled_from(DUMP_LINES[12:22]) | st.text(max_size=20)


@st.composite
def entries(draw: st.DrawFn) -> list[str]:
    """One paper entry, sometimes with a metadata group, sometimes damaged."""
    title = draw(st.sampled_from(DUMP_LINES[8:11]) | st.text(min_size=1, max_size=80))
    abstract = draw(st.sampled_from(DUMP_LINES[11:12]) | LONG_TEXT)
    lines = [title, abstract]
    if draw(st.booleans()):
        lines += [draw(META_LINES), draw(st.sampled_from(["·", "·", "", "•"])), draw(META_LINES)]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(DUMP_LINES)))
    return lines


@st.composite
def dumps(draw: st.DrawFn) -> str:
    """A page that starts like a real one, with entries that may be damaged or cut short."""
    header = draw(st.lists(st.sampled_from(DUMP_LINES[:5]), max_size=5))
    page_date = draw(st.sampled_from(["Oct 28", "Jan 3", "Feb 29", "Feb 30", ""]))
    body = [line for entry in draw(st.lists(entries(), min_size=1, max_size=12)) for line in entry]
    text = "\n\n".join([*header, page_date, *body])
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


@FUZZ
@given(dumps(), SEPARATORS)
def test_dump_like_pages(text: str, separator: str) -> None:
    _check(text.replace("\n\n", separator).encode("utf-8", "surrogatepass"))


@FUZZ
@given(dumps(), st.integers(min_value=1, max_value=64))
def test_reading_in_small_pieces_changes_nothing(text: str, step: int) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        expected = parse_bytes(data, reference_date=REFERENCE)
    except DumpRejected:
        return
    stream = io.BufferedReader(Trickle(data, step), buffer_size=step)
    dump = open_dump(stream, reference_date=REFERENCE)
    assert (dump.format, list(dump), dump.warnings) == expected


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
PAPER_KEYS = st.sampled_from(
    ["id", "title", "summary", "authors", "publishedAt", "upvotes", "githubRepo", "organization"]
)
PAPER_OBJECTS = st.dictionaries(PAPER_KEYS, JSON_VALUES | st.text(max_size=60), max_size=8)
ITEMS = st.lists(
    st.fixed_dictionaries(
        {"title": st.text(max_size=30) | JSON_VALUES},
        optional={"paper": PAPER_OBJECTS | JSON_VALUES},
    )
    | JSON_VALUES,
    max_size=6,
)


@FUZZ
@given(ITEMS, st.integers(min_value=0, max_value=400))
def test_json_like_lists(items: list[object], cut: int) -> None:
    data = json.dumps(items).encode()
    _check(data)
    _check(data[: max(1, len(data) - cut)])  # and the same list, cut short


def _rejected(reason: str) -> list[PaperRecord]:
    assert reason
    assert "\n" not in reason
    return []
