"""Which kind of dump a stream holds, judged from its first bytes, or why it is none.

Generic checks come first (empty, binary, not UTF-8, blank); then the first non-space character
picks JSON, and anything else must open like a Daily Papers page and, parsed as a sample, look
like one. Every "no" is a ``DumpRejected`` whose message says what was found and what a dump
looks like; that sentence ends up in ``rejected/<name>.error.txt``, so it is written for a person.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from feedd.errors import DumpRejected
from feedd.parse import daily_text, dates
from feedd.parse.records import DumpFormat

HEAD_BYTES = 64 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Bytes that plain text holds: printable ASCII, tab, newlines, form feed and every byte >= 0x80
# (UTF-8 sequences; whether they are valid is checked separately).
_TEXT_BYTES = bytes([9, 10, 12, 13, *range(32, 127), *range(128, 256)])
# Share of the head that may be control bytes or broken UTF-8 before it counts as binary.
_MAX_NON_TEXT_SHARE = 0.05
# Enough lines to see the whole header, the page date and the first entry.
_HEAD_LINES = 12
# Real abstracts run to 1,000-1,900 characters; lines much shorter are titles or other text.
MIN_ABSTRACT_CHARS = 100
# Dates do not matter when the head is only parsed to judge its layout.
_ANY_DATE = date(2000, 1, 1)
WHAT_A_DUMP_IS = (
    "a dump is a saved Hugging Face Daily Papers page (text) or an /api/daily_papers JSON list"
)


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the head of a stream says: its format, its bytes without a BOM, the page date."""

    format: DumpFormat
    head: bytes
    page: tuple[int, int] | None = None  # month and day of a text dump's page date


def read_head(stream: BinaryIO) -> tuple[bytes, bool]:
    """Up to HEAD_BYTES from the stream, and whether the stream ended within them."""
    chunks: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:
        chunk = stream.read(HEAD_BYTES - size)
        if not chunk:  # pipes and sockets may return less than asked; only b"" is the end
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def sniff(head: bytes, at_eof: bool) -> Sniffed:
    """The format of the dump that starts with ``head``; raises DumpRejected if it is none."""
    head = _without_bom(head)
    text = _as_text(head)
    first = text.lstrip()[:1]
    if first == "[":
        return Sniffed(DumpFormat.DAILY_PAPERS_JSON, head)
    if first == "{":
        raise DumpRejected(f"a JSON object, not a list of papers; {WHAT_A_DUMP_IS}")
    lines = _first_lines(text, at_eof)
    if not lines:
        raise DumpRejected(
            f"the first line is longer than {HEAD_BYTES // 1024} KiB, so this is not a listing "
            f"page; {WHAT_A_DUMP_IS}"
        )
    page, reason = _check_head(lines)
    if reason is None:
        reason = _check_sample(head, at_eof)
    if reason is not None:
        if "\ufffd" in text:
            reason += " (it also holds bytes that are not UTF-8)"
        raise DumpRejected(reason)
    return Sniffed(DumpFormat.DAILY_PAPERS_TEXT, head, page)


def _without_bom(head: bytes) -> bytes:
    if not head:
        raise DumpRejected(f"empty file (0 bytes); {WHAT_A_DUMP_IS}")
    if head.startswith(_UTF16_BOMS):
        raise DumpRejected(
            "UTF-16 text; feedd reads dumps saved as UTF-8 (re-save the page as UTF-8)"
        )
    return head.removeprefix(UTF8_BOM)


def _as_text(head: bytes) -> str:
    """The head decoded, after ruling out binary data, other encodings and blank files."""
    if b"\x00" in head:
        raise DumpRejected(f"binary data (it contains NUL bytes), not text; {WHAT_A_DUMP_IS}")
    text = head.decode("utf-8", "replace")
    non_text = len(head.translate(None, _TEXT_BYTES)) + text.count("\ufffd")
    if non_text > _MAX_NON_TEXT_SHARE * len(text):
        raise DumpRejected(
            f"binary data or text in an encoding other than UTF-8 ({non_text} of the first "
            f"{len(head)} bytes are not UTF-8 text); {WHAT_A_DUMP_IS}"
        )
    if not text.strip():
        raise DumpRejected(f"the file holds only whitespace ({len(head)} bytes); {WHAT_A_DUMP_IS}")
    return text


def _first_lines(text: str, at_eof: bool) -> list[str]:
    """The first non-blank lines of the head, stripped; a line the head cuts off is left out."""
    pieces = text.split("\n")
    if not at_eof:
        pieces.pop()
    lines: list[str] = []
    for piece in pieces:
        line = piece.strip()
        if line:
            lines.append(line)
            if len(lines) == _HEAD_LINES:
                break
    return lines


def _check_head(lines: list[str]) -> tuple[tuple[int, int] | None, str | None]:
    """Decide from the first non-blank lines whether this is a text dump.

    Returns (page month and day or None, None) for a dump, or (None, reason) for anything else.
    """
    header = list(_leading_header(lines))
    rest = lines[len(header) :]
    page = dates.parse_page_date(rest[0]) if rest else None
    # Without its date, a page is known by its header: two lines of it, one unmistakable.
    if page is None and not (
        len(set(header)) >= 2 and daily_text.STRONG_HEADER_LINES.intersection(header)
    ):
        first = daily_text.describe(lines[0]) if lines else "nothing"
        return None, (
            f"not a Daily Papers dump: it starts with {first}; a dump starts with the Daily "
            "Papers header (e.g. 'Daily Papers') or a page date such as 'Oct 28', then "
            "title and abstract lines"
        )
    entry = rest[1:] if page is not None else rest
    if entry and len(entry[0]) > daily_text.MAX_TITLE_CHARS:
        return None, (
            f"not a Daily Papers dump: the first title would be a {len(entry[0])}-character "
            "line; titles are one short line, followed by an abstract line"
        )
    return page, None


def _check_sample(head: bytes, at_eof: bool) -> str | None:
    """Why the entries in the head do not look like a listing page's, or None when they do.

    The header and page date only say where a page starts; a page of other text after them
    must not turn into papers, so the head is parsed as a sample and judged.
    """
    if not at_eof:
        head = head[: head.rfind(b"\n") + 1]  # complete lines only
    parser = daily_text.TextParser(_ANY_DATE, _ANY_DATE, [])
    records = list(parser.records(head, io.BytesIO()))
    stray = parser.stray_lines
    if stray > len(records):
        return (
            f"not a Daily Papers dump: {stray} of the first lines fit no paper entry; a dump "
            "holds title lines, each followed by a long abstract line and optional metadata"
        )
    # The last entry of the sample may be cut short, so it is judged only when it is alone.
    judged = records[:-1] or records
    short = sum(1 for record in judged if len(record.abstract) < MIN_ABSTRACT_CHARS)
    if short * 2 > len(judged):
        return (
            f"not a Daily Papers dump: {short} of the first {len(judged)} entries have an "
            f"'abstract' under {MIN_ABSTRACT_CHARS} characters; abstracts are one long line"
        )
    return None


def _leading_header(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if line not in daily_text.HEADER_LINES:
            return
        yield line
