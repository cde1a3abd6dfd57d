"""Reading papers back: order, lookups and the SPEC §2 JSON shape, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from feedd.store import count_papers, get_paper, list_papers, make_engine, upgrade
from tests.test_store_papers import ingest, rec, stored

SPEC_FIELDS = [
    "id",
    "key",
    "title",
    "abstract",
    "authors_count",
    "authors",
    "organisation",
    "published",
    "upvotes",
    "arxiv_id",
    "code_urls",
    "first_seen",
    "last_seen",
]


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_list_is_newest_first(engine: sa.Engine) -> None:
    ingest(engine, [rec("Old", published=date(2024, 1, 1)), rec("Undated A")], name="d1")
    ingest(
        engine,
        [rec("Undated B"), rec("New", published=date(2024, 6, 1)), rec("Same day")],
        name="d2",
    )
    # d3 gives "Same day" New's date; it was seen last, so it comes first.
    ingest(engine, [rec("Same day", published=date(2024, 6, 1))], name="d3")
    titles = [p.title for p in list_papers(engine)]
    assert titles == ["Same day", "New", "Old", "Undated B", "Undated A"]
    assert [p.title for p in list_papers(engine, limit=2, offset=1)] == ["New", "Old"]
    assert count_papers(engine) == 5


def test_same_date_and_time_falls_back_to_newest_id(engine: sa.Engine) -> None:
    ingest(
        engine,
        [rec("First", published=date(2024, 6, 1)), rec("Second", published=date(2024, 6, 1))],
    )
    assert [p.title for p in list_papers(engine)] == ["Second", "First"]


def test_get_paper_by_id_title_or_arxiv_id(engine: sa.Engine) -> None:
    outcome = ingest(
        engine,
        [rec("Scaling Laws for Neural Language Models", arxiv_id="2001.08361"), rec("2048")],
    )
    first_id = outcome.new_paper_ids[0]
    by_id = stored(engine, first_id)
    assert by_id.title == "Scaling Laws for Neural Language Models"
    assert get_paper(engine, str(first_id)) == by_id
    assert get_paper(engine, "  scaling LAWS for neural-language models!! ") == by_id
    assert get_paper(engine, "ＳＣＡＬＩＮＧ laws for neural language models") == by_id
    assert get_paper(engine, "2001.08361") == by_id
    # A number that is no id is still tried as a title.
    assert stored(engine, "2048").title == "2048"
    assert get_paper(engine, "no such paper") is None
    assert get_paper(engine, 999_999) is None


def test_to_json_has_the_spec_fields_and_types(engine: sa.Engine) -> None:
    ingest(
        engine,
        [
            rec("Full", authors=("A",), published=date(2024, 6, 5), upvotes=2),
            rec("Empty"),
        ],
    )
    for listed in list_papers(engine):
        data = listed.to_json()
        assert list(data)[: len(SPEC_FIELDS)] == SPEC_FIELDS
        assert json.loads(json.dumps(data)) == data
        assert isinstance(data["authors"], list)
        assert isinstance(data["code_urls"], list)
        for name in ("first_seen", "last_seen"):
            value = data[name]
            assert isinstance(value, str)
            assert value.endswith("+00:00")
            assert datetime.fromisoformat(value).utcoffset() is not None
    full, empty = stored(engine, "Full"), stored(engine, "Empty")
    assert (full.to_json()["published"], full.to_json()["upvotes"]) == ("2024-06-05", 2)
    assert {k: empty.to_json()[k] for k in ("authors_count", "published", "upvotes")} == {
        "authors_count": None,
        "published": None,
        "upvotes": None,
    }
    assert (empty.to_json()["authors"], empty.to_json()["organisation"]) == ([], None)
