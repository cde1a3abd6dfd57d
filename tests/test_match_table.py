"""The query language over the five example dumps: every query's matches, checked by hand.

``tests/data/match/queries.json`` lists each query with the titles it must match (or, for a
large result, the count and a few titles in and out). The expectations were computed with plain
``re`` searches over the raw titles and abstracts (and the dumps' metadata lines), then read over
by a person: they do not come from ``feedd.match``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from feedd.match import Document, Percolator, analyze, compile_query, document_frequencies
from feedd.parse import PaperRecord, parse_bytes

DATA = Path(__file__).resolve().parent / "data" / "match"
DUMPS = Path(__file__).resolve().parent.parent.parent / "shared" / "dumps"
REFERENCE = date(2026, 11, 22)
CASES: list[dict[str, Any]] = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))


def load_corpus() -> list[PaperRecord]:
    """The papers of the five dumps (392 entries), one per key, merged as SPEC §2 says."""
    papers: dict[str, PaperRecord] = {}
    for dump in sorted(DUMPS.glob("*.txt")):
        _, records, _ = parse_bytes(dump.read_bytes(), reference_date=REFERENCE)
        for record in records:
            known = papers.get(record.key)
            papers[record.key] = record if known is None else _merge(known, record)
    return list(papers.values())


def _merge(known: PaperRecord, new: PaperRecord) -> PaperRecord:
    """Longest abstract; what was missing filled in; code links united."""
    return replace(
        known,
        abstract=max(known.abstract, new.abstract, key=len),
        authors_count=known.authors_count if known.authors_count is not None else new.authors_count,
        organisation=known.organisation or new.organisation,
        published=known.published or new.published,
        upvotes=known.upvotes if known.upvotes is not None else new.upvotes,
        code_urls=tuple(dict.fromkeys(known.code_urls + new.code_urls)),
    )


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, Document]]:
    papers = load_corpus()
    assert len(papers) == 348
    return [(paper.title, analyze(paper)) for paper in papers]


def test_the_table_covers_the_language() -> None:
    queries = " ".join(case["query"] for case in CASES)
    assert len(CASES) >= 60
    for form in ("*", '"', "title:", "abstract:", "org:", "author:", " AND ", " OR ", "NOT ", "-"):
        assert form in queries
    for form in ("upvotes:>=", "authors:<=", "published:[", " TO *]", "{", "has:code", "/^LLM/"):
        assert form in queries


@pytest.mark.parametrize("case", CASES, ids=[case["query"] for case in CASES])
def test_query_matches_the_hand_checked_papers(
    case: dict[str, Any], corpus: list[tuple[str, Document]]
) -> None:
    query = compile_query(case["query"])
    found = sorted(title for title, doc in corpus if query.matches(doc))
    assert len(found) == case["count"]
    if "titles" in case:
        assert found == case["titles"]
    else:
        assert set(case["includes"]) <= set(found)
        assert not set(case["excludes"]) & set(found)


def test_percolator_finds_what_evaluating_every_query_finds(
    corpus: list[tuple[str, Document]],
) -> None:
    queries = {case["query"]: compile_query(case["query"]) for case in CASES}
    frequencies = document_frequencies(doc for _, doc in corpus)
    for percolator in (Percolator(queries, doc_freq=frequencies), Percolator(queries)):
        for _, doc in corpus:
            expected = {key: q.explain(doc) for key, q in queries.items() if q.matches(doc)}
            assert percolator.match(doc) == expected


def test_explain_names_the_words_and_fields(corpus: list[tuple[str, Document]]) -> None:
    doc = dict(corpus)["Qwen2.5 Technical Report"]
    result = compile_query('qwen* "technical report" upvotes:>=5 -survey').explain(doc)
    assert result is not None
    assert result.terms["title"] == ("qwen2", "technical report")
    assert "qwen2" in result.terms["abstract"]
    assert compile_query("qwen* survey").explain(doc) is None
