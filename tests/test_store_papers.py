"""store_dump: counts, merge rules, duplicates, rollback and streaming, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

import feedd.store.upsert
from feedd.errors import DumpRejected
from feedd.parse.records import DumpFormat, PaperRecord, ParseWarning
from feedd.parse.text import paper_key
from feedd.store import (
    DumpInfo,
    StoredPaper,
    StoreOutcome,
    count_papers,
    find_ingested_dump,
    get_paper,
    list_dumps,
    make_engine,
    store_dump,
    upgrade,
)
from feedd.store.models import paper_dumps

TEXT = DumpFormat.DAILY_PAPERS_TEXT


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def rec(title: str, abstract: str = "An abstract.", **fields: Any) -> PaperRecord:
    return PaperRecord(key=paper_key(title), title=title, abstract=abstract, **fields)


def ingest(
    engine: sa.Engine,
    records: Iterable[PaperRecord],
    name: str = "dump.txt",
    reference: date | None = date(2024, 6, 6),
    warnings: list[ParseWarning] | None = None,
) -> StoreOutcome:
    info = DumpInfo(
        name=name,
        sha256=f"{name:0>64}"[-64:],
        size=100,
        received_at=datetime.now(UTC),
        reference_date=reference,
    )
    return store_dump(engine, info, TEXT, iter(records), warnings if warnings is not None else [])


def stored(engine: sa.Engine, ref: str | int) -> StoredPaper:
    found = get_paper(engine, ref)
    assert found is not None, ref
    return found


def paper(engine: sa.Engine, title: str) -> dict[str, object]:
    return stored(engine, title).to_json()


def test_new_papers_are_stored_with_every_field(engine: sa.Engine) -> None:
    outcome = ingest(
        engine,
        [
            rec(
                "Attention Is All You Need",
                "We propose the Transformer. Code: https://github.com/t/t",
                authors_count=8,
                authors=("Ashish Vaswani", "Noam Shazeer"),
                organisation="Google",
                published=date(2017, 6, 12),
                upvotes=42,
                arxiv_id="1706.03762",
                code_urls=("https://github.com/t/t",),
            ),
            rec("A Second Paper"),
        ],
    )
    assert (outcome.status, outcome.format) == ("ingested", "daily-papers-text")
    assert (outcome.papers_total, outcome.papers_new, outcome.entries) == (2, 2, 2)
    assert (outcome.papers_updated, outcome.papers_unchanged) == (0, 0)
    assert len(set(outcome.new_paper_ids)) == 2
    assert outcome.updated_paper_ids == ()
    first = stored(engine, outcome.new_paper_ids[0])
    assert first.to_json() | {"first_seen": "T", "last_seen": "T"} == {
        "id": outcome.new_paper_ids[0],
        "key": "attention is all you need",
        "title": "Attention Is All You Need",
        "abstract": "We propose the Transformer. Code: https://github.com/t/t",
        "authors_count": 8,
        "authors": ["Ashish Vaswani", "Noam Shazeer"],
        "organisation": "Google",
        "published": "2017-06-12",
        "upvotes": 42,
        "arxiv_id": "1706.03762",
        "code_urls": ["https://github.com/t/t"],
        "first_seen": "T",
        "last_seen": "T",
        "dumps": ["dump.txt"],
    }
    assert first.first_seen == first.last_seen
    assert first.first_seen.tzinfo is UTC
    (dump,) = list_dumps(engine)
    assert (dump.status, dump.papers_total, dump.papers_new) == ("ingested", 2, 2)
    assert find_ingested_dump(engine, dump.sha256) == outcome.dump_id


def test_updated_and_unchanged_counts(engine: sa.Engine) -> None:
    ingest(engine, [rec("One", upvotes=1), rec("Two", upvotes=1), rec("Three")], name="d1")
    outcome = ingest(engine, [rec("One", upvotes=5), rec("Two", upvotes=1), rec("Four")], name="d2")
    one, two, four = (stored(engine, t) for t in ("One", "Two", "Four"))
    assert (outcome.papers_total, outcome.papers_new) == (3, 1)
    assert (outcome.papers_updated, outcome.papers_unchanged) == (1, 1)
    assert outcome.new_paper_ids == (four.id,)
    assert outcome.updated_paper_ids == (one.id,)
    assert one.upvotes == 5
    assert one.dumps == two.dumps == ("d1", "d2")
    assert two.last_seen > two.first_seen
    assert count_papers(engine) == 4


def test_longest_abstract_wins_and_code_links_are_united(engine: sa.Engine) -> None:
    ingest(engine, [rec("P", "Short, cut", code_urls=("https://github.com/a/a",))], name="d1")
    longer = "Short, cut off no more. See https://gitlab.com/b/b and https://github.com/a/a"
    outcome = ingest(
        engine,
        [rec("P", longer, code_urls=("https://gitlab.com/b/b", "https://github.com/a/a"))],
        name="d2",
    )
    assert outcome.papers_updated == 1
    assert paper(engine, "P")["abstract"] == longer
    assert paper(engine, "P")["code_urls"] == ["https://github.com/a/a", "https://gitlab.com/b/b"]
    outcome = ingest(engine, [rec("P", "Short")], name="d3")
    assert outcome.papers_unchanged == 1
    assert paper(engine, "P")["abstract"] == longer


@pytest.mark.parametrize(
    ("second_reference", "second_upvotes", "expected"),
    [
        (date(2024, 6, 7), 9, 9),  # newer dump: its count wins, even if lower in theory
        (date(2024, 6, 6), 9, 9),  # same day: the later ingest wins
        (date(2024, 6, 5), 9, 3),  # an old dump ingested late does not change the count
        (None, 9, 9),  # a dump without a reference date counts as newest
        (date(2024, 6, 7), None, 3),  # a dump that does not say keeps the count
    ],
)
def test_upvotes_follow_the_newest_reference_date(
    engine: sa.Engine, second_reference: date | None, second_upvotes: int | None, expected: int
) -> None:
    ingest(engine, [rec("P", upvotes=3)], name="d1", reference=date(2024, 6, 6))
    ingest(engine, [rec("P", upvotes=second_upvotes)], name="d2", reference=second_reference)
    assert paper(engine, "P")["upvotes"] == expected


def test_old_dump_after_a_newer_equal_count_cannot_lower_it(engine: sa.Engine) -> None:
    # Same count from a newer dump changes nothing visible, but moves upvotes_as_of forward.
    ingest(engine, [rec("P", upvotes=3)], name="d1", reference=date(2024, 6, 1))
    outcome = ingest(engine, [rec("P", upvotes=3)], name="d2", reference=date(2024, 6, 9))
    assert outcome.papers_unchanged == 1
    ingest(engine, [rec("P", upvotes=1)], name="d3", reference=date(2024, 6, 5))
    assert paper(engine, "P")["upvotes"] == 3


def test_missing_fields_are_filled_and_never_overwritten_with_none(engine: sa.Engine) -> None:
    ingest(engine, [rec("P", authors_count=3, published=date(2024, 6, 5))], name="d1")
    outcome = ingest(
        engine,
        [
            rec(
                "P",
                authors_count=4,
                authors=("A", "B", "C"),
                organisation="Org",
                published=date(2023, 1, 1),
                arxiv_id="2406.00001",
            )
        ],
        name="d2",
    )
    assert outcome.papers_updated == 1
    filled = paper(engine, "P")
    assert filled["authors_count"] == 3  # known: kept
    assert filled["published"] == "2024-06-05"  # known: kept
    assert filled["authors"] == ["A", "B", "C"]
    assert filled["organisation"] == "Org"
    assert filled["arxiv_id"] == "2406.00001"
    outcome = ingest(engine, [rec("P")], name="d3")
    assert outcome.papers_unchanged == 1
    assert paper(engine, "P") | {"last_seen": None, "dumps": None} == filled | {
        "last_seen": None,
        "dumps": None,
    }


def test_title_is_kept_as_first_seen(engine: sa.Engine) -> None:
    ingest(engine, [rec("Deep Learning: A Survey")], name="d1")
    outcome = ingest(engine, [rec("deep learning -- a survey")], name="d2")
    assert (outcome.papers_new, outcome.papers_unchanged) == (0, 1)
    assert paper(engine, "DEEP LEARNING A SURVEY")["title"] == "Deep Learning: A Survey"
    assert count_papers(engine) == 1


def test_same_paper_twice_in_one_dump_is_merged_first(engine: sa.Engine) -> None:
    outcome = ingest(
        engine,
        [rec("P", "Short", upvotes=1), rec("Other"), rec("P", "Longer text", authors_count=2)],
    )
    assert (outcome.entries, outcome.papers_total, outcome.papers_new) == (3, 2, 2)
    merged = paper(engine, "P")
    assert (merged["abstract"], merged["upvotes"], merged["authors_count"]) == (
        "Longer text",
        1,
        2,
    )
    assert merged["dumps"] == ["dump.txt"]


def test_same_paper_in_different_batches_of_one_dump(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedd.store.upsert, "BATCH_SIZE", 2)
    ingest(engine, [rec("Known"), rec("Seen")], name="d1")
    outcome = ingest(
        engine,
        [
            rec("New"),
            rec("Known"),  # batch 1: unchanged so far
            rec("Seen"),
            rec("New", "A longer abstract."),  # batch 2: a change to a paper new in this dump
            rec("Known", "Changed after all."),  # batch 3: unchanged becomes updated
            rec("Seen"),
        ],
        name="d2",
    )
    assert (outcome.entries, outcome.papers_total) == (6, 3)
    assert (outcome.papers_new, outcome.papers_updated, outcome.papers_unchanged) == (1, 1, 1)
    assert paper(engine, "New")["abstract"] == "A longer abstract."
    assert paper(engine, "Known")["dumps"] == ["d1", "d2"]
    with engine.connect() as conn:
        links = conn.execute(sa.select(sa.func.count()).select_from(paper_dumps)).scalar()
    assert links == 5


def test_duplicate_bytes_are_recorded_and_change_nothing(engine: sa.Engine) -> None:
    first = ingest(engine, [rec("P", upvotes=1)], name="same")
    before = paper(engine, "P")
    again = ingest(engine, [rec("P", "A much longer abstract", upvotes=7)], name="same")
    assert (again.status, again.papers_total, again.new_paper_ids) == ("duplicate", 0, ())
    assert again.dump_id != first.dump_id
    assert paper(engine, "P") == before
    assert [d.status for d in list_dumps(engine)] == ["duplicate", "ingested"]
    assert find_ingested_dump(engine, list_dumps(engine)[0].sha256) == first.dump_id


def test_a_failing_parser_leaves_nothing_behind(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedd.store.upsert, "BATCH_SIZE", 3)

    def records() -> Iterator[PaperRecord]:
        for number in range(10):  # three batches reach the database first
            yield rec(f"Paper {number}")
        raise DumpRejected("no paper entries found")

    with pytest.raises(DumpRejected, match="no paper entries"):
        ingest(engine, records())
    assert count_papers(engine) == 0
    assert list_dumps(engine) == []


def test_warnings_are_read_after_the_records(engine: sa.Engine) -> None:
    warnings: list[ParseWarning] = []

    def records() -> Iterator[PaperRecord]:
        yield rec("P")
        warnings.append(ParseWarning(7, "entry cut short"))

    outcome = ingest(engine, records(), warnings=warnings)
    assert outcome.warnings == ("line 7: entry cut short",)
    assert list_dumps(engine)[0].warnings == ("line 7: entry cut short",)


def test_a_large_dump_streams_in_batches(engine: sa.Engine) -> None:
    total = 20_000
    consumed = 0

    def records(salt: str) -> Iterator[PaperRecord]:
        nonlocal consumed
        for number in range(total):
            consumed += 1
            yield rec(f"Generated paper {number}", f"Abstract {number} {salt}", upvotes=number)

    outcome = ingest(engine, records("a"), name="big1")
    assert (outcome.papers_new, outcome.papers_total, consumed) == (total, total, total)
    assert len(set(outcome.new_paper_ids)) == total
    assert count_papers(engine) == total
    outcome = ingest(engine, records("b"), name="big2")
    assert (outcome.papers_new, outcome.papers_unchanged) == (0, total)
    assert count_papers(engine) == total
    last = stored(engine, f"generated paper {total - 1}")
    assert (last.upvotes, last.dumps) == (total - 1, ("big1", "big2"))


def test_concurrent_ingests_are_serialised(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(3)]
    upgrade(engines[0])
    start = threading.Barrier(len(engines))
    outcomes: list[StoreOutcome] = []
    errors: list[BaseException] = []
    shared = [rec(f"Shared {number}") for number in range(300)]

    def run(engine: sa.Engine, name: str) -> None:
        start.wait()
        try:
            outcomes.append(ingest(engine, [*shared, rec(f"Own {name}")], name=name))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    names = ["a", "b", "b"]  # two of them carry the same bytes
    threads = [threading.Thread(target=run, args=pair) for pair in zip(engines, names, strict=True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        ingested = [o for o in outcomes if o.status == "ingested"]
        assert sorted(o.status for o in outcomes) == ["duplicate", "ingested", "ingested"]
        assert sorted(o.papers_new for o in ingested) == [1, 301]
        assert count_papers(engines[0]) == 302
    finally:
        for engine in engines:
            engine.dispose()
