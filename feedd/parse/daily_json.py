"""The JSON that Hugging Face's /api/daily_papers returns: a list of daily-paper objects.

Each item looks like ``{"title", "publishedAt", "paper": {"id", "title", "summary", "authors":
[{"name"}], "publishedAt", "upvotes", "githubRepo"?, "organization"?}}``; ``paper.id`` is the
arXiv id. Items are decoded one at a time so that a download cut off mid-list still yields the
items that arrived whole; a bad item is skipped with a warning and never stops the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from feedd.parse.dates import exact_date
from feedd.parse.records import PaperRecord, ParseWarning
from feedd.parse.text import collapse_whitespace, find_code_urls, paper_key

# These responses are a few hundred kilobytes; anything far larger is not one.
MAX_JSON_BYTES = 64 * 1024 * 1024
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# New-style (2410.12345, optional version) and old-style (hep-th/9901001) arXiv identifiers.
_ARXIV_ID = re.compile(
    r"\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?", re.ASCII
)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DECODER = json.JSONDecoder()

Item = tuple[int, Any]  # (line the item starts on, decoded value)


def split_items(text: str) -> tuple[list[Item], str | None]:
    """The items of the top-level JSON list, and what went wrong if it is not all valid JSON."""
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        return [], "it does not start with '['"
    items: list[Item] = []
    line, counted = 1, 0
    pos = _skip_space(text, pos + 1)
    if text.startswith("]", pos):
        return items, _trailing(text, pos + 1)
    while True:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as error:
            return items, _describe_error(text, pos, error)
        line += text.count("\n", counted, pos)
        counted = pos
        items.append((line, value))
        pos = _skip_space(text, end)
        if text.startswith("]", pos):
            return items, _trailing(text, pos + 1)
        if not text.startswith(",", pos):
            return items, _where(text, pos, "expected ',' or ']' after an item")
        pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


def _trailing(text: str, pos: int) -> str | None:
    end = _skip_space(text, pos)
    return None if end == len(text) else _where(text, end, "extra data after the list")


def _where(text: str, pos: int, what: str) -> str:
    if _cut_short(text):
        return _CUT_SHORT
    line = text.count("\n", 0, pos) + 1
    return f"{what} at line {line}"


def _describe_error(text: str, pos: int, error: Exception) -> str:
    if _cut_short(text):
        return _CUT_SHORT
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
    return _where(text, pos, "JSON nested too deeply")


def _cut_short(text: str) -> bool:
    """A list that is never closed is a download that died, not a different document."""
    return not text.rstrip(" \t\n\r").endswith("]")


_CUT_SHORT = "the JSON ends before its list is closed (cut short?)"


def shape_problem(items: list[Item]) -> str | None:
    """Why a JSON list is not a daily-papers response, or None when it is one."""
    if not items:
        return "an empty JSON list: no paper entries"
    if any(
        isinstance(value, dict) and ("paper" in value or "title" in value) for _, value in items
    ):
        return None
    return (
        f"a JSON list of {len(items)} items, none of them a daily-papers object "
        "(an object with 'paper' or 'title')"
    )


def records(items: list[Item], warnings: list[ParseWarning]) -> Iterator[PaperRecord]:
    """One record per usable item; each unusable item leaves a warning instead."""
    for line, value in items:
        record = _record(value, _Warner(line, warnings))
        if record is not None:
            yield record


class _Warner:
    """Appends warnings that carry the line of the item being read."""

    def __init__(self, line: int, warnings: list[ParseWarning]) -> None:
        self.line = line
        self._warnings = warnings

    def __call__(self, message: str) -> None:
        self._warnings.append(ParseWarning(self.line, message))


def _record(item: Any, warn: _Warner) -> PaperRecord | None:
    if not isinstance(item, dict):
        warn(f"item is a JSON {type(item).__name__}, not an object; skipped")
        return None
    paper = item.get("paper")
    if not isinstance(paper, dict):
        paper = {}
    title = collapse_whitespace(_text(paper.get("title")) or _text(item.get("title")))
    key = paper_key(title)
    if not key:
        warn("item has no title; skipped")
        return None
    # Summaries keep arXiv's hard line breaks; joined, they read like the listing page's.
    abstract = collapse_whitespace(_text(paper.get("summary")))
    authors = _authors(paper.get("authors"), warn)
    return PaperRecord(
        key=key,
        title=title,
        abstract=abstract,
        authors_count=len(authors) or None,
        authors=authors,
        organisation=_organisation(paper) or _organisation(item),
        published=_published(paper.get("publishedAt"), warn),
        upvotes=_upvotes(paper.get("upvotes"), warn),
        arxiv_id=_arxiv_id(paper.get("id"), warn),
        code_urls=_code_urls(abstract, paper.get("githubRepo")),
    )


def _short(value: Any) -> str:
    """A value quoted for a warning, cut so that one odd item cannot flood the log."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _authors(value: Any, warn: _Warner) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        warn("'authors' is not a list; ignored")
        return ()
    names = (author.get("name") if isinstance(author, dict) else author for author in value)
    return tuple(
        collapse_whitespace(name) for name in names if isinstance(name, str) and name.strip()
    )


def _organisation(holder: dict[str, Any]) -> str | None:
    organisation = holder.get("organization")
    if not isinstance(organisation, dict):
        return None
    name = _text(organisation.get("fullname")) or _text(organisation.get("name"))
    return collapse_whitespace(name) or None


def _published(value: Any, warn: _Warner) -> date | None:
    if value is None:
        return None
    match = _ISO_DATE.match(value) if isinstance(value, str) else None
    published = exact_date(int(match[1]), int(match[2]), int(match[3])) if match else None
    if published is None:
        warn(f"unreadable publishedAt {_short(value)}; ignored")
    return published


def _upvotes(value: Any, warn: _Warner) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    warn(f"unreadable upvotes {_short(value)}; ignored")
    return None


def _arxiv_id(value: Any, warn: _Warner) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _ARXIV_ID.fullmatch(value.strip()):
        return value.strip()
    warn(f"paper id {_short(value)} is not an arXiv id; ignored")
    return None


def _code_urls(abstract: str, repo: Any) -> tuple[str, ...]:
    urls = find_code_urls(abstract)
    if isinstance(repo, str):
        urls = tuple(dict.fromkeys(urls + find_code_urls(repo)))
    return urls
