"""The SPEC §2 merge rules as a pure function: a table of (stored, incoming) -> expected."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from feedd.parse.records import PaperRecord
from feedd.store.merge import PaperState, merge, visibly_changed

JUNE_1, JUNE_5, JUNE_9 = date(2024, 6, 1), date(2024, 6, 5), date(2024, 6, 9)
BASE = PaperState(
    title="Title",
    abstract="Abstract",
    authors_count=None,
    authors=(),
    organisation=None,
    published=None,
    upvotes=None,
    upvotes_as_of=None,
    arxiv_id=None,
    code_urls=(),
)


def state(**changes: Any) -> PaperState:
    return BASE._replace(**changes)


CASES = [
    ("longer abstract wins", state(abstract="ab"), state(abstract="abc"), {"abstract": "abc"}),
    ("shorter abstract loses", state(abstract="abc"), state(abstract="ab"), {}),
    ("title stays", state(), state(title="TITLE"), {}),
    (
        "code links united in order",
        state(code_urls=("b", "a")),
        state(code_urls=("a", "c")),
        {"code_urls": ("b", "a", "c")},
    ),
    (
        "missing fields filled",
        state(),
        state(
            authors_count=2,
            authors=("X", "Y"),
            organisation="Org",
            published=JUNE_1,
            arxiv_id="2406.1",
        ),
        {
            "authors_count": 2,
            "authors": ("X", "Y"),
            "organisation": "Org",
            "published": JUNE_1,
            "arxiv_id": "2406.1",
        },
    ),
    (
        "known fields kept",
        state(authors_count=2, authors=("X",), organisation="O", published=JUNE_1, arxiv_id="1"),
        state(authors_count=3, authors=("Z",), organisation="P", published=JUNE_5, arxiv_id="2"),
        {},
    ),
    (
        "newer upvotes",
        state(upvotes=1, upvotes_as_of=JUNE_1),
        state(upvotes=5, upvotes_as_of=JUNE_5),
        {"upvotes": 5, "upvotes_as_of": JUNE_5},
    ),
    (
        "older upvotes",
        state(upvotes=5, upvotes_as_of=JUNE_9),
        state(upvotes=7, upvotes_as_of=JUNE_5),
        {},
    ),
    (
        "undated counts as newest",
        state(upvotes=5, upvotes_as_of=JUNE_9),
        state(upvotes=7, upvotes_as_of=None),
        {"upvotes": 7, "upvotes_as_of": None},
    ),
    (
        "after an undated count only undated ones replace it",
        state(upvotes=5, upvotes_as_of=None),
        state(upvotes=7, upvotes_as_of=JUNE_9),
        {},
    ),
    (
        "first count taken whatever its date",
        state(),
        state(upvotes=2, upvotes_as_of=JUNE_1),
        {"upvotes": 2, "upvotes_as_of": JUNE_1},
    ),
    (
        "no count keeps the count",
        state(upvotes=5, upvotes_as_of=JUNE_1),
        state(upvotes_as_of=JUNE_9),
        {},
    ),
]


@pytest.mark.parametrize(
    ("stored", "incoming", "changes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_merge(stored: PaperState, incoming: PaperState, changes: dict[str, Any]) -> None:
    assert merge(stored, incoming) == stored._replace(**changes)


def test_only_a_newer_date_is_not_a_visible_change() -> None:
    before = state(upvotes=3, upvotes_as_of=JUNE_1)
    after = merge(before, state(upvotes=3, upvotes_as_of=JUNE_9))
    assert after != before
    assert not visibly_changed(before, after)
    assert visibly_changed(before, merge(before, state(upvotes=4, upvotes_as_of=JUNE_9)))


def test_from_record_dates_only_a_known_count() -> None:
    record = PaperRecord(key="t", title="T", abstract="A", upvotes=None)
    assert PaperState.from_record(record, JUNE_5).upvotes_as_of is None
    counted = PaperRecord(key="t", title="T", abstract="A", upvotes=3)
    assert PaperState.from_record(counted, JUNE_5).upvotes_as_of == JUNE_5
