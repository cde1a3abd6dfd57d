"""Table tests for the Daily Papers text format: the variants real files arrive in."""

from __future__ import annotations

import io
from datetime import date

import pytest

from feedd.errors import DumpRejected
from feedd.parse import DumpFormat, PaperRecord, ParseWarning, open_dump, parse_bytes

REFERENCE = date(2026, 11, 22)
HEADER = (
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
)
ABSTRACT = (
    "We study how gradient boosted trees can act as actor and critic in reinforcement "
    "learning, and release the code at https://github.com/NVlabs/gbrl."
)


def page(
    *entries: tuple[str, ...], header: tuple[str, ...] = HEADER, date_line: str = "Oct 28"
) -> str:
    """A text dump: header, page date, entries; blank lines between everything, as real ones."""
    lines = [*header, *([date_line] if date_line else []), *(line for e in entries for line in e)]
    return "\n\n".join(lines)


def entry(title: str, meta: str | None = None, when: str | None = None) -> tuple[str, ...]:
    """A title and abstract, plus the metadata group when ``meta`` and ``when`` are given."""
    if meta is None:
        return (title, ABSTRACT)
    return (title, ABSTRACT, f"  • {meta}" if meta[0].isdigit() else meta, "·", when or "")


def parse(
    text: str | bytes, reference: date = REFERENCE
) -> tuple[list[PaperRecord], list[ParseWarning]]:
    data = text.encode() if isinstance(text, str) else text
    dump_format, records, warnings = parse_bytes(data, reference_date=reference)
    assert dump_format is DumpFormat.DAILY_PAPERS_TEXT
    return records, warnings


THREE = page(
    entry("First Paper", "10 authors", "Jul 11, 2024 2"),
    entry("Second Paper"),
    entry("Third Paper", "ontocord Ontocord.AI", "Sep 29 3"),
)


def test_a_plain_page() -> None:
    records, warnings = parse(THREE)
    assert warnings == []
    first, second, third = records
    assert first == PaperRecord(
        key="first paper",
        title="First Paper",
        abstract=ABSTRACT,
        authors_count=10,
        published=date(2024, 7, 11),
        upvotes=2,
        code_urls=("https://github.com/NVlabs/gbrl",),
    )
    assert (second.authors_count, second.published, second.upvotes) == (None, None, None)
    assert (third.organisation, third.authors_count, third.published, third.upvotes) == (
        "Ontocord.AI",
        None,
        date(2026, 9, 29),
        3,
    )


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: "\ufeff" + t.replace("\n", "\r\n"), id="bom-crlf"),
        pytest.param(lambda t: t.replace("\n", "  \n") + "   ", id="trailing-spaces"),
        pytest.param(lambda t: t.replace("\n", " \t\n"), id="trailing-tabs"),
        pytest.param(lambda t: t + "\n", id="final-newline"),
        pytest.param(lambda t: "\n\n\n" + t.replace("\n\n", "\n") + "\n\n\n", id="blank-lines"),
    ],
)
def test_line_end_and_whitespace_variants_parse_the_same(variant: object) -> None:
    assert callable(variant)
    assert parse(variant(THREE)) == parse(THREE)


@pytest.mark.parametrize(
    "header",
    [
        HEADER,
        HEADER[:3] + HEADER[4:],  # 001_… has no "Daily Papers" line
        ("Daily Papers",),
        ("new", "Subscribe"),
        (),
    ],
    ids=["full", "without-daily-papers", "only-daily-papers", "weak-words-only", "none"],
)
def test_any_subset_of_the_header_before_the_page_date(header: tuple[str, ...]) -> None:
    text = page(entry("First Paper", "3 authors", "Oct 2"), header=header)
    dump = open_dump(io.BytesIO(text.encode()), reference_date=REFERENCE)
    assert [r.title for r in dump] == ["First Paper"]
    assert dump.page_date == date(2026, 10, 28)
    assert dump.warnings == []


def test_a_strong_header_without_page_date_is_read_with_a_warning() -> None:
    text = page(entry("First Paper", "3 authors", "Oct 2"), date_line="")
    dump = open_dump(io.BytesIO(text.encode()), reference_date=REFERENCE)
    records = list(dump)
    assert dump.page_date is None
    assert records[0].published == date(2026, 10, 2)  # year from the reference date
    assert "no page date" in dump.warnings[0].message


def test_metadata_missing_for_one_entry_in_the_middle() -> None:
    text = page(
        entry("A", "4 authors", "Jun 5, 2024"),
        entry("B"),
        entry("C", "1 authors", "Jun 6, 2024"),
    )
    records, warnings = parse(text)
    assert [(r.title, r.authors_count, r.upvotes) for r in records] == [
        ("A", 4, 0),
        ("B", None, None),
        ("C", 1, 0),
    ]
    assert warnings == []


@pytest.mark.parametrize(
    ("date_line", "published", "upvotes"),
    [
        ("Jul 11, 2024 2", date(2024, 7, 11), 2),
        ("Jul 11, 2024", date(2024, 7, 11), 0),
        ("Dec 30, 2024 15", date(2024, 12, 30), 15),
        ("Sep 30 2", date(2026, 9, 30), 2),
        ("Sep 30", date(2026, 9, 30), 0),
        ("Oct 28", date(2026, 10, 28), 0),  # the page's own day
        ("Oct 29", date(2025, 10, 29), 0),  # after the page date: the year before
        ("Feb 29", date(2024, 2, 29), 0),  # the latest leap year
        ("Feb 29, 2024 7", date(2024, 2, 29), 7),
    ],
)
def test_date_lines(date_line: str, published: date, upvotes: int) -> None:
    records, warnings = parse(page(entry("A Paper", "2 authors", date_line)))
    assert (records[0].published, records[0].upvotes) == (published, upvotes)
    assert warnings == []


def test_year_less_dates_across_a_year_boundary() -> None:
    text = page(entry("A Paper", "2 authors", "Dec 30 4"), date_line="Jan 3")
    dump = open_dump(io.BytesIO(text.encode()), reference_date=date(2026, 1, 10))
    records = list(dump)
    assert dump.page_date == date(2026, 1, 3)
    assert records[0].published == date(2025, 12, 30)


def test_page_date_after_the_reference_day_is_last_year() -> None:
    text = page(entry("A Paper", "2 authors", "Dec 30"), date_line="Dec 31")
    dump = open_dump(io.BytesIO(text.encode()), reference_date=date(2026, 1, 2))
    records = list(dump)
    assert dump.page_date == date(2025, 12, 31)
    assert records[0].published == date(2025, 12, 30)


def test_a_page_dated_feb_29() -> None:
    dump = open_dump(
        io.BytesIO(page(entry("A Paper"), date_line="Feb 29").encode()), reference_date=REFERENCE
    )
    list(dump)
    assert dump.page_date == date(2024, 2, 29)


@pytest.mark.parametrize("date_line", ["Feb 30, 2024 4", "Feb 30", "Apr 31 2"])
def test_impossible_dates_are_a_warning(date_line: str) -> None:
    records, warnings = parse(page(entry("A Paper", "3 authors", date_line)))
    assert records[0].published is None
    assert records[0].authors_count == 3
    assert [w.line for w in warnings] == [21]
    assert "no such date" in warnings[0].message


def test_an_unreadable_date_line_is_a_warning() -> None:
    records, warnings = parse(page(entry("A Paper", "3 authors", "yesterday")))
    assert (records[0].published, records[0].upvotes) == (None, None)
    assert "unreadable date line 'yesterday'" in str(warnings[0])


def test_an_impossible_page_date_is_a_warning() -> None:
    dump = open_dump(
        io.BytesIO(page(entry("A Paper", "3 authors", "Jan 2"), date_line="Feb 30").encode()),
        reference_date=REFERENCE,
    )
    records = list(dump)
    assert dump.page_date is None
    assert records[0].published == date(2026, 1, 2)
    assert "Feb 30 does not exist" in dump.warnings[0].message


# --- files cut short mid-entry ------------------------------------------------------------

CUT_BASE = page(
    entry("First Paper", "2 authors", "Jun 5, 2024 1"),
    entry("Last Paper", "7 authors", "Jun 6, 2024 3"),
)


def _cut_after(marker: str, extra: int = 0) -> str:
    end = CUT_BASE.rindex(marker) + len(marker) + extra
    return CUT_BASE[:end]


@pytest.mark.parametrize(
    ("cut", "last", "warning"),
    [
        (_cut_after("Last Paper"), None, "file ends after title 'Last Paper'; skipped"),
        (_cut_after("Last Paper", 30), ("Last Paper", None, None, None), None),
        (_cut_after("7 authors"), ("Last Paper", 7, None, None), "file ends after the authors"),
        (_cut_after("·"), ("Last Paper", 7, None, None), "file ends before the date line"),
        (_cut_after("·", 1), ("Last Paper", 7, None, None), "file ends before the date line"),
        (_cut_after("Jun 6, 20"), ("Last Paper", 7, None, None), "unreadable date line"),
    ],
    ids=[
        "after-title",
        "mid-abstract",
        "after-authors",
        "after-dot",
        "after-dot-newline",
        "mid-date",
    ],
)
def test_a_file_cut_short(cut: str, last: tuple[object, ...] | None, warning: str | None) -> None:
    records, warnings = parse(cut)
    assert records[0].title == "First Paper"
    assert records[0].upvotes == 1
    if last is None:
        assert len(records) == 1
    else:
        record = records[1]
        assert (record.title, record.authors_count, record.published, record.upvotes) == last
    assert [w.message for w in warnings if warning and warning in w.message] == [
        w.message for w in warnings
    ]
    assert len(warnings) == (1 if warning else 0)
    assert all(w.line for w in warnings)


def test_a_file_cut_after_an_organisation_line_keeps_the_paper_without_metadata() -> None:
    text = page(
        entry("A", "2 authors", "Jun 5, 2024"), ("Last Paper", ABSTRACT, "ontocord Ontocord.AI")
    )
    records, warnings = parse(text)
    assert (records[1].title, records[1].organisation, records[1].upvotes) == (
        "Last Paper",
        None,
        None,
    )
    assert "'ontocord Ontocord.AI': a title without abstract or a cut metadata group" in str(
        warnings[0]
    )


def test_a_cut_mid_abstract_paper_keeps_the_partial_abstract() -> None:
    records, _ = parse(_cut_after("Last Paper", 30))
    assert records[1].abstract == ABSTRACT[:28]


# --- odd lines inside a page ----------------------------------------------------------------


def test_invalid_utf8_is_replaced_and_reported_once() -> None:
    text = page(entry("Caf\udcff Paper", "2 authors", "Jun 5, 2024"), entry("Na\udcffve Paper"))
    data = text.encode("utf-8", "surrogateescape")
    records, warnings = parse(data)
    assert [r.title for r in records] == ["Caf\ufffd Paper", "Na\ufffdve Paper"]
    assert [(w.line, "invalid UTF-8" in w.message) for w in warnings] == [(13, True)]


def test_warnings_carry_file_line_numbers() -> None:
    text = "Daily Papers\n\nOct 28\n\nA Paper\n\n" + ABSTRACT + "\n\n  • 3 authors\n·\nMay 55\n"
    _, warnings = parse(text)
    assert [(w.line, w.message) for w in warnings] == [(11, "no such date 'May 55'")]


def test_an_overlong_title_is_skipped_and_the_next_entry_read() -> None:
    text = page(entry("A Paper", "3 authors", "Jun 5, 2024"), ("x" * 600,), entry("B Paper"))
    records, warnings = parse(text)
    assert [r.title for r in records] == ["A Paper", "B Paper"]
    assert "where a paper title was expected" in warnings[0].message


def test_a_title_without_letters_or_digits_is_skipped() -> None:
    records, warnings = parse(page(entry("A Paper"), entry("???")))
    assert [r.title for r in records] == ["A Paper"]
    assert "no letters or digits" in warnings[0].message


def test_a_title_followed_by_metadata_has_no_abstract() -> None:
    text = page(entry("A Paper"), ("Lost Title", "  • 3 authors", "·", "Jun 5"), entry("B Paper"))
    records, warnings = parse(text)
    assert [r.title for r in records] == ["A Paper", "B Paper"]
    assert "title 'Lost Title' has no abstract" in warnings[0].message


def test_two_pages_joined_into_one_file() -> None:
    first = page(entry("A Paper", "3 authors", "Jun 5, 2024"))
    second = page(entry("B Paper", "1 authors", "Jun 6, 2024"), date_line="Oct 29")
    records, warnings = parse(first + "\n\n" + second)
    assert [(r.title, r.published) for r in records] == [
        ("A Paper", date(2024, 6, 5)),
        ("B Paper", date(2024, 6, 6)),
    ]
    assert [w.message for w in warnings] == [
        "a second page header starts with 'new': two dumps joined?"
    ]


def test_a_second_page_resolves_its_year_less_dates_against_its_own_date() -> None:
    first = page(entry("A Paper", "3 authors", "Dec 30"), date_line="Jan 3")
    second = page(entry("B Paper"), entry("C Paper", "1 authors", "Jan 2"), date_line="Dec 31")
    dump = open_dump(io.BytesIO(f"{first}\n\n{second}".encode()), reference_date=date(2026, 1, 5))
    records = list(dump)
    assert dump.page_date == date(2026, 1, 3)
    # Against the first page's date (2026-01-03), "Jan 2" would be 2026-01-02.
    assert [r.published for r in records] == [date(2025, 12, 30), None, date(2025, 1, 2)]


def test_title_and_abstract_are_stripped_but_not_collapsed() -> None:
    records, _ = parse(page(("  Spaced   Title \t", "  " + ABSTRACT.replace(" ", "  ") + " ")))
    assert records[0].title == "Spaced   Title"
    assert records[0].abstract == ABSTRACT.replace(" ", "  ")
    assert records[0].key == "spaced title"


# --- the stream -----------------------------------------------------------------------------


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out a few bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data[self._pos : self._pos + min(self._step, len(buffer))]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        self.served += len(chunk)
        return len(chunk)


def _big_page(entries: int) -> bytes:
    return page(
        *(
            entry(f"Paper Ünïcode {n}", f"{n % 9 + 1} authors", "Jun 5, 2024 3")
            for n in range(entries)
        )
    ).encode()


def test_a_non_seekable_trickling_stream_gives_the_same_papers() -> None:
    data = _big_page(600)  # well over the 64 KiB head, and non-ASCII across read boundaries
    assert len(data) > 100_000
    stream = io.BufferedReader(Trickle(data, 997), buffer_size=4096)
    assert not stream.seekable()
    dump = open_dump(stream, reference_date=REFERENCE)
    assert list(dump) == parse(data)[0]
    assert dump.warnings == []


def test_open_dump_reads_only_the_head_before_iteration() -> None:
    raw = Trickle(_big_page(2000), 1 << 16)
    dump = open_dump(io.BufferedReader(raw), reference_date=REFERENCE)
    assert raw.served <= 64 * 1024 + 8192
    assert sum(1 for _ in dump) == 2000


def test_a_parsed_dump_streams_once() -> None:
    dump = open_dump(io.BytesIO(THREE.encode()), reference_date=REFERENCE)
    assert len(list(dump)) == 3
    with pytest.raises(RuntimeError, match="only once"):
        iter(dump)


def test_warnings_grow_while_iterating() -> None:
    dump = open_dump(
        io.BytesIO(page(entry("A", "3 authors", "Feb 30")).encode()), reference_date=REFERENCE
    )
    assert dump.warnings == []
    list(dump)
    assert len(dump.warnings) == 1


def test_zero_entries_are_rejected_at_the_end_of_iteration() -> None:
    dump = open_dump(io.BytesIO(page(("???", ABSTRACT)).encode()), reference_date=REFERENCE)
    with pytest.raises(DumpRejected, match="no paper entries"):
        list(dump)


def test_a_large_page_streams_every_entry() -> None:
    # Speed is measured in benchmarks/ingest.py; here only that nothing is dropped at scale.
    records, warnings = parse(_big_page(20_000))
    assert len(records) == 20_000
    assert len({record.key for record in records}) == 20_000
    assert warnings == []
