"""Dates as listing pages write them ("Oct 28", "Jun 5, 2024 3") and how a missing year is found."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import PurePath
from typing import NamedTuple

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS: dict[str, int] = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}
_MONTH = "(" + "|".join(MONTHS) + ")"
# re.ASCII: only 0-9 are digits here, not every script's.
_PAGE_DATE = re.compile(_MONTH + r" (\d{1,2})", re.ASCII)
# A year needs its comma: "Sep 30 2" is Sep 30 with two upvotes, never the year 2.
_DATE_LINE = re.compile(_MONTH + r" (\d{1,2})(?:, (\d{4}))?(?: (\d{1,9}))?", re.ASCII)
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", re.ASCII)

# Feb 29 recurs every four years, except across a skipped century leap year (2100): eight covers it.
_YEARS_TO_SEARCH = 9


class DateLine(NamedTuple):
    """A paper's date line taken apart; the date itself may still be impossible (Feb 30)."""

    month: int
    day: int
    year: int | None
    upvotes: int


def parse_page_date(line: str) -> tuple[int, int] | None:
    """(month, day) when the line is a page date such as "Oct 28", else None."""
    match = _PAGE_DATE.fullmatch(line)
    return (MONTHS[match[1]], int(match[2])) if match else None


def parse_date_line(line: str) -> DateLine | None:
    """The parts of "Mon D[, YYYY][ N]" (N = upvotes, 0 when absent), or None if it is not one."""
    match = _DATE_LINE.fullmatch(line)
    if match is None:
        return None
    year = int(match[3]) if match[3] else None
    return DateLine(MONTHS[match[1]], int(match[2]), year, int(match[4] or 0))


def looks_like_date_line(line: str) -> bool:
    """Cheap test used where a title is expected: short and shaped like a date line."""
    return len(line) <= 24 and _DATE_LINE.fullmatch(line) is not None


def exact_date(year: int, month: int, day: int) -> date | None:
    """The date, or None when the calendar has no such day."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def latest_on_or_before(month: int, day: int, limit: date) -> date | None:
    """The latest date with this month and day that is not after ``limit``; None if none exists.

    Feb 29 resolves to the latest leap year; an impossible day (Feb 30, Apr 31) gives None.
    """
    for year in range(limit.year, limit.year - _YEARS_TO_SEARCH, -1):
        candidate = exact_date(year, month, day)
        if candidate is not None and candidate <= limit:
            return candidate
    return None


def reference_date_for(name: str, mtime: float) -> date:
    """The date in the file name when it holds a valid YYYY-MM-DD, else the mtime's local date."""
    for match in _NAME_DATE.finditer(PurePath(name).name):
        found = exact_date(int(match[1]), int(match[2]), int(match[3]))
        if found is not None:
            return found
    return datetime.fromtimestamp(mtime).date()
