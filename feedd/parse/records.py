"""The plain data the parsers hand to the rest of feedd."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class DumpFormat(enum.StrEnum):
    DAILY_PAPERS_TEXT = "daily-papers-text"
    DAILY_PAPERS_JSON = "daily-papers-json"


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One paper as a dump describes it; ``None`` / empty means the dump did not say."""

    key: str
    title: str
    abstract: str
    authors_count: int | None = None
    authors: tuple[str, ...] = ()
    organisation: str | None = None
    published: date | None = None
    upvotes: int | None = None
    arxiv_id: str | None = None
    code_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something in an otherwise readable dump that was skipped or guessed."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message
