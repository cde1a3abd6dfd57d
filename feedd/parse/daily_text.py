"""The Daily Papers listing page saved as text (SPEC §1), read line by line.

Only non-blank lines matter. After an optional header and the page date ("Oct 28"), each paper
is a title line and an abstract line, optionally followed by a metadata group of three lines:
authors ("• 10 authors") or organisation ("ontocord Ontocord.AI"), "·", and a date line
("Jun 5, 2024 2"). Whether a group follows is only known one line later, when the second line
after the abstract turns out to be "·"; the parser keeps that one line pending until then.

The state machine is the hot path (≥ 100,000 papers/s): every state is a bound method that
sees one stripped, non-blank line, and cheap string tests run before any regex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from itertools import chain
from typing import BinaryIO

from feedd.parse.dates import (
    MONTH_NAMES,
    exact_date,
    latest_on_or_before,
    looks_like_date_line,
    parse_date_line,
    parse_page_date,
)
from feedd.parse.records import PaperRecord, ParseWarning
from feedd.parse.text import find_code_urls, paper_key

HEADER_LINES = frozenset(
    {
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "Daily Papers",
        "byAK and the research community",
    }
)
# "new" and "Subscribe" are common words; only these say "this is a Daily Papers page".
STRONG_HEADER_LINES = frozenset(
    {"Get trending papers in your email inbox!", "Daily Papers", "byAK and the research community"}
)
DOT = "·"
MAX_TITLE_CHARS = 500
# Longer than any header line, date line or "• N authors": lines this long are always titles.
_SHORT = 48
# A single line longer than this is not text a listing page holds; it is cut into pieces.
MAX_LINE_BYTES = 1 << 20
_MAX_CACHED_DATES = 4096
_BAD_UTF8 = "invalid UTF-8 bytes replaced by U+FFFD (first occurrence)"

State = Callable[[int, str], PaperRecord | None]


def _byte_lines(head: bytes, rest: BinaryIO) -> Iterator[bytes]:
    """The stream's lines as bytes: the head, which was already read from it, comes first."""
    pieces = head.split(b"\n")
    # The head may end inside a line; finish that line from the stream before going on.
    last = pieces.pop() + rest.readline(MAX_LINE_BYTES)
    if last:
        pieces.append(last)
    # readline's limit keeps one absurd line from filling memory; its pieces read as lines.
    # (chain, not a generator: this iterator is on the hot path.)
    return chain(pieces, iter(partial(rest.readline, MAX_LINE_BYTES), b""))


def _authors_count(line: str) -> int | None:
    """N from "• N authors" ("• 1 authors" occurs too), or None for any other line."""
    # String methods, not a regex: this runs for nearly every paper.
    number, _, word = line[2:].partition(" ")
    if not (line.startswith("• ") and word in ("authors", "author")):
        return None
    return int(number) if number.isascii() and number.isdigit() and len(number) <= 6 else None


def _could_be_title(line: str) -> bool:
    """False for lines that are never titles: too long, or metadata, header or date lines."""
    if len(line) > MAX_TITLE_CHARS:
        return False
    if len(line) > _SHORT:
        return True
    return not (line == DOT or line[0] == "•" or line in HEADER_LINES or looks_like_date_line(line))


def describe(line: str) -> str:
    """A line quoted for a warning: short enough to read in a log."""
    return repr(line if len(line) <= 60 else line[:57] + "...")


class TextParser:
    """Turns the numbered lines of one text dump into paper records, one state per position."""

    def __init__(
        self, page_date: date | None, reference_date: date, warnings: list[ParseWarning]
    ) -> None:
        self._reference_date = reference_date
        # Year-less paper dates resolve to the latest date not after this: the page's date.
        self._anchor = page_date or reference_date
        self._warnings = warnings
        self._state: State = self._header
        self._pages = 0  # page headers seen: a file may hold two pages joined
        self._skipping = False  # inside a run of lines that fit no entry: warned once
        self.stray_lines = 0  # lines that fit no entry, a measure of how unlike a page this is
        self._title = self._abstract = self._pending = ""
        self._title_line = self._pending_line = self._dot_line = 0
        self._bad_utf8_seen = False
        # Date lines repeat a lot ("Oct 28, 2024"); resolving each distinct one once is faster.
        self._dates: dict[str, tuple[date | None, int | None]] = {}

    def records(self, head: bytes, rest: BinaryIO) -> Iterator[PaperRecord]:
        """The papers of the dump whose first bytes are ``head`` and the rest ``rest``."""
        # The hot loop: decoding, stripping and dispatching every line of the dump.
        for number, raw in enumerate(_byte_lines(head, rest), start=1):
            if raw == b"\n":  # half the lines of a dump; skip them before decoding
                continue
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                line = self._decode_badly(number, raw)
            if line:
                record = self._state(number, line)
                if record is not None:
                    yield record
        record = self._finish()
        if record is not None:
            yield record

    def _decode_badly(self, number: int, raw: bytes) -> str:
        """The line with bytes that are not UTF-8 replaced; the first such line is reported."""
        if not self._bad_utf8_seen:
            self._bad_utf8_seen = True
            self._warn(number, _BAD_UTF8)
        return raw.decode("utf-8", "replace").strip()

    # --- states: each takes the next non-blank line ---------------------------------------

    def _header(self, number: int, line: str) -> PaperRecord | None:
        if line in HEADER_LINES:
            return None
        self._pages += 1
        self._state = self._expect_title
        page = parse_page_date(line)
        if page is None:
            return self._expect_title(number, line)
        if self._pages > 1:  # the first page's date was resolved by open_dump
            self._anchor = latest_on_or_before(*page, self._reference_date) or self._anchor
            self._dates.clear()
        return None

    def _new_page(self, number: int, line: str) -> None:
        self._warn(number, f"a second page header starts with {describe(line)}: two dumps joined?")
        self._state = self._header

    def _expect_title(self, number: int, line: str) -> PaperRecord | None:
        if not _SHORT < len(line) <= MAX_TITLE_CHARS and not _could_be_title(line):
            self.stray_lines += 1
            if line in HEADER_LINES:
                self._new_page(number, line)
            elif not self._skipping:
                self._skipping = True
                self._warn(number, f"skipped {describe(line)} where a paper title was expected")
            return None
        self._skipping = False
        self._title, self._title_line = line, number
        self._state = self._expect_abstract
        return None

    def _expect_abstract(self, number: int, line: str) -> PaperRecord | None:
        if line == DOT or line[0] == "•":
            # Metadata right after a title: the abstract is missing, and so is the paper.
            self._warn(self._title_line, f"title {describe(self._title)} has no abstract; skipped")
            self.stray_lines += 1
            self._state = self._skip_metadata
            return None
        self._abstract = line
        self._state = self._after_abstract
        return None

    def _skip_metadata(self, number: int, line: str) -> PaperRecord | None:
        """Pass over the rest of a metadata group whose paper was dropped."""
        if line == DOT or line[0] == "•":
            return None
        self._state = self._expect_title
        return None if looks_like_date_line(line) else self._expect_title(number, line)

    def _after_abstract(self, number: int, line: str) -> PaperRecord | None:
        if line == DOT:
            self._warn(number, "metadata group without an authors or organisation line")
            self._pending, self._dot_line = "", number
            self._state = self._expect_date
            return None
        if len(line) <= _SHORT and line in HEADER_LINES:
            record = self._record(None, None)
            self._new_page(number, line)
            return record
        self._pending, self._pending_line = line, number
        self._state = self._after_pending
        return None

    def _after_pending(self, number: int, line: str) -> PaperRecord | None:
        if line == DOT:
            self._dot_line = number
            self._state = self._expect_date
            return None
        if self._pending[0] == "•":
            self._warn(number, "metadata group without its '·' line")
            return self._expect_date(number, line)
        # No metadata group: the pending line was the next paper's title, this its abstract.
        record = self._record(None, None)
        self._state = self._expect_title
        self._expect_title(self._pending_line, self._pending)
        self._state(number, line)
        return record

    def _expect_date(self, number: int, line: str) -> PaperRecord | None:
        self._state = self._expect_title
        published, upvotes = self._published(number, line)
        return self._record(published, upvotes, meta=self._pending)

    # --- the end of the file ----------------------------------------------------------------

    def _finish(self) -> PaperRecord | None:
        state = self._state
        if state == self._expect_abstract:
            self._warn(self._title_line, f"file ends after title {describe(self._title)}; skipped")
        elif state == self._after_abstract:
            return self._record(None, None)
        elif state == self._after_pending:
            return self._finish_pending()
        elif state == self._expect_date:
            self._warn(self._dot_line, "file ends before the date line: paper kept without a date")
            return self._record(None, None, meta=self._pending)
        return None

    def _finish_pending(self) -> PaperRecord | None:
        """The file ended on the line after an abstract, so whether it was metadata is unknown."""
        if self._pending[0] == "•":
            self._warn(
                self._pending_line, "file ends after the authors line: no date for the paper"
            )
            return self._record(None, None, meta=self._pending)
        self._warn(
            self._pending_line,
            f"file ends with {describe(self._pending)}: a title without abstract or a cut "
            "metadata group; ignored",
        )
        return self._record(None, None)

    # --- building a record ------------------------------------------------------------------

    def _published(self, number: int, line: str) -> tuple[date | None, int | None]:
        cached = self._dates.get(line)
        if cached is not None:
            return cached
        published, upvotes = self._resolve_date_line(number, line)
        if published is not None:  # failures are not cached: each one is warned about
            if len(self._dates) >= _MAX_CACHED_DATES:
                self._dates.clear()
            self._dates[line] = published, upvotes
        return published, upvotes

    def _resolve_date_line(self, number: int, line: str) -> tuple[date | None, int | None]:
        parts = parse_date_line(line)
        if parts is None:
            self._warn(number, f"unreadable date line {describe(line)}")
            return None, None
        if parts.year is None:
            published = latest_on_or_before(parts.month, parts.day, self._anchor)
        else:
            published = exact_date(parts.year, parts.month, parts.day)
        if published is None:
            self._warn(number, f"no such date {describe(line)}")
        return published, parts.upvotes

    def _record(
        self, published: date | None, upvotes: int | None, meta: str | None = None
    ) -> PaperRecord | None:
        title, abstract = self._title, self._abstract
        key = paper_key(title)
        if not key:
            self._warn(self._title_line, f"title {describe(title)} has no letters or digits")
            return None
        authors_count = organisation = None
        if meta:
            authors_count, organisation = self._meta(meta)
        return PaperRecord(
            key=key,
            title=title,
            abstract=abstract,
            authors_count=authors_count,
            organisation=organisation,
            published=published,
            upvotes=upvotes,
            code_urls=find_code_urls(abstract),
        )

    def _meta(self, line: str) -> tuple[int | None, str | None]:
        """(authors count, organisation) from the first metadata line."""
        if line[0] != "•":
            # "<handle> <name>": the name is what the page shows people.
            return None, line.partition(" ")[2].strip() or line
        count = _authors_count(line)
        if count is None:
            self._warn(self._title_line, f"unreadable authors line {describe(line)}")
        return count, None

    def _warn(self, number: int | None, message: str) -> None:
        self._warnings.append(ParseWarning(number, message))


def resolve_page_date(
    page: tuple[int, int] | None, reference_date: date, warnings: list[ParseWarning]
) -> date | None:
    """The page's full date: the latest with its month and day not after the reference date."""
    if page is None:
        warnings.append(
            ParseWarning(None, "no page date line; dates without a year use the reference date")
        )
        return None
    resolved = latest_on_or_before(page[0], page[1], reference_date)
    if resolved is None:
        warnings.append(
            ParseWarning(
                None,
                f"the page date {MONTH_NAMES[page[0] - 1]} {page[1]} does not exist; dates "
                "without a year use the reference date",
            )
        )
    return resolved
