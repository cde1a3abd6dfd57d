"""Dump parsing: bytes in, paper records and warnings out. Pure: no database, no settings.

``open_dump`` looks at the head of a stream, decides by content which format it holds (or
raises ``DumpRejected`` with a reason for a person), and returns a ``ParsedDump`` that reads the
rest lazily::

    with path.open("rb") as stream:
        dump = open_dump(stream, reference_date=reference_date_for(path.name, mtime))
        for record in dump:      # DumpRejected here, at the end, if no paper was found
            ...
        dump.warnings            # complete once iteration is done
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import BinaryIO

from feedd.errors import DumpRejected
from feedd.parse import daily_json, daily_text, detect
from feedd.parse.dates import reference_date_for
from feedd.parse.records import DumpFormat, PaperRecord, ParseWarning
from feedd.parse.text import CODE_HOSTS, find_code_urls, paper_key

__all__ = [
    "CODE_HOSTS",
    "DumpFormat",
    "DumpRejected",
    "PaperRecord",
    "ParseWarning",
    "ParsedDump",
    "find_code_urls",
    "open_dump",
    "paper_key",
    "parse_bytes",
    "reference_date_for",
]


class ParsedDump:
    """A dump whose format is known; iterating it (once) reads and yields its papers."""

    def __init__(
        self,
        format: DumpFormat,
        page_date: date | None,
        warnings: list[ParseWarning],
        records: Iterator[PaperRecord],
        empty_reason: str,
    ) -> None:
        self.format = format
        self.page_date = page_date
        self.warnings = warnings  # the parser appends to this list while it runs
        self._records = records
        self._empty_reason = empty_reason
        self._used = False

    def __iter__(self) -> Iterator[PaperRecord]:
        if self._used:
            raise RuntimeError("a ParsedDump streams its input and can be iterated only once")
        self._used = True
        return self._stream()

    def _stream(self) -> Iterator[PaperRecord]:
        found = False
        for record in self._records:
            found = True
            yield record
        if not found:
            reason = self._empty_reason
            if self.warnings:
                count = len(self.warnings)
                problems = "1 problem" if count == 1 else f"{count} problems"
                reason += f" ({problems}; the first: {self.warnings[0]})"
            raise DumpRejected(reason)


def open_dump(stream: BinaryIO, *, reference_date: date) -> ParsedDump:
    """Detect the dump format from the stream's head; raise DumpRejected if it is not a dump.

    The stream may be non-seekable: the head is kept and read again before the rest. Year-less
    dates are resolved against ``reference_date`` (see ``reference_date_for``).
    """
    head, at_eof = detect.read_head(stream)
    sniffed = detect.sniff(head, at_eof)
    if sniffed.format is DumpFormat.DAILY_PAPERS_JSON:
        return _open_json(sniffed.head, stream)
    return _open_text(sniffed, stream, reference_date)


def parse_bytes(
    data: bytes, *, reference_date: date
) -> tuple[DumpFormat, list[PaperRecord], list[ParseWarning]]:
    """The whole of a small dump at once: format, records, warnings. Same rules as open_dump."""
    dump = open_dump(io.BytesIO(data), reference_date=reference_date)
    records = list(dump)
    return dump.format, records, dump.warnings


def _open_text(sniffed: detect.Sniffed, stream: BinaryIO, reference_date: date) -> ParsedDump:
    warnings: list[ParseWarning] = []
    page_date = daily_text.resolve_page_date(sniffed.page, reference_date, warnings)
    parser = daily_text.TextParser(page_date, reference_date, warnings)
    return ParsedDump(
        DumpFormat.DAILY_PAPERS_TEXT,
        page_date,
        warnings,
        parser.records(sniffed.head, stream),
        "no paper entries: the file starts like a Daily Papers page but holds no title line "
        "followed by an abstract line",
    )


def _open_json(head: bytes, stream: BinaryIO) -> ParsedDump:
    warnings: list[ParseWarning] = []
    text = _json_text(_read_rest(head, stream, daily_json.MAX_JSON_BYTES + 1), warnings)
    items, problem = daily_json.split_items(text)
    if problem is not None and not items:
        raise DumpRejected(f"starts with '[' but is not a daily-papers JSON list: {problem}")
    shape = daily_json.shape_problem(items)
    if shape is not None:
        raise DumpRejected(f"{shape}; {detect.WHAT_A_DUMP_IS}")
    if problem is not None:
        warnings.append(ParseWarning(None, f"{problem}; kept the {len(items)} complete items"))
    return ParsedDump(
        DumpFormat.DAILY_PAPERS_JSON,
        None,
        warnings,
        daily_json.records(items, warnings),
        f"no paper entries: none of the {len(items)} JSON items has a title",
    )


def _read_rest(head: bytes, stream: BinaryIO, limit: int) -> bytes:
    """The head and the rest of the stream, up to ``limit`` bytes in all."""
    chunks = [head]
    size = len(head)
    # A raw stream or pipe may return less than asked for; only b"" means the end.
    while size < limit and (chunk := stream.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _json_text(data: bytes, warnings: list[ParseWarning]) -> str:
    if len(data) > daily_json.MAX_JSON_BYTES:
        raise DumpRejected(
            f"a JSON file over {daily_json.MAX_JSON_BYTES // 2**20} MiB; daily-papers JSON "
            "responses are far smaller"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        warnings.append(
            ParseWarning(None, f"invalid UTF-8 at byte {error.start} replaced by U+FFFD")
        )
        return data.decode("utf-8", "replace")
