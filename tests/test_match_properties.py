"""Properties: the percolator equals plain evaluation; the normal form round-trips; no input
crashes the parser. Queries and papers are generated from a small vocabulary so they meet."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedd.match import (
    Document,
    Percolator,
    Query,
    QueryError,
    analyze,
    compile_query,
    document_frequencies,
    fold,
    words,
)
from feedd.parse import PaperRecord
from tests.test_match_table import load_corpus

VOCAB = ["alpha", "beta", "gamma", "delta", "lora", "the", "of", "x2", "naïve", "naive", "dé"]
SEPARATORS = [" ", " ", " ", "-", ". ", ", ", "/", "_"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

word = st.sampled_from(VOCAB).flatmap(lambda w: st.sampled_from([w, w.upper(), w.capitalize()]))
prefix = st.sampled_from(VOCAB).flatmap(lambda w: st.integers(1, len(w)).map(lambda n: w[:n] + "*"))
phrase = st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
hyphenated = st.lists(word, min_size=2, max_size=3).map("-".join)
text_term = st.one_of(word, prefix, phrase, hyphenated)
fielded = st.tuples(st.sampled_from(["title:", "abstract:", "org:", "author:"]), text_term).map(
    "".join
)
numeric = st.sampled_from(
    [
        "upvotes:>=3",
        "upvotes:0",
        "upvotes:{1 TO 4]",
        "authors:<=2",
        "authors:[2 TO *]",
        "published:>=2024-06",
        "published:2024",
        "published:[* TO 2023-12-31]",
    ]
)
flags = st.sampled_from(["has:code", "has:arxiv", "has:org", "has:authors"])
regexes = st.sampled_from(["title:/^Alpha/", "abstract:/(?i)beta.gamma/", "author:/^B/", "/x2$/"])
leaf = st.one_of(text_term, text_term, fielded, numeric, flags, regexes)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"{p[0]} AND {p[1]}"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"-({c})"),
        children.map(lambda c: f"+({c})"),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"title:({c})"),
    )


query_text = st.recursive(leaf, _combine, max_leaves=6)

text = st.tuples(
    st.lists(word, max_size=12), st.lists(st.sampled_from(SEPARATORS), min_size=12, max_size=12)
).map(lambda t: "".join(w + s for w, s in zip(t[0], t[1], strict=False)))
papers = st.builds(
    PaperRecord,
    key=st.just("k"),
    title=text,
    abstract=text,
    authors_count=st.none() | st.integers(1, 5),
    authors=st.lists(text, max_size=3).map(tuple),
    organisation=st.none() | text,
    published=st.none() | st.dates(date(2023, 1, 1), date(2025, 12, 31)),
    upvotes=st.none() | st.integers(0, 5),
    arxiv_id=st.none() | st.just("2401.00001"),
    code_urls=st.sampled_from([(), ("https://github.com/a/b",)]),
)


@pytest.fixture(scope="module")
def real_docs() -> list[Document]:
    return [analyze(paper) for paper in load_corpus()[::7]]


def _expected(queries: dict[int, Query], doc: Document) -> dict[int, object]:
    return {key: q.explain(doc) for key, q in queries.items() if q.matches(doc)}


@SETTINGS
@given(
    texts=st.lists(query_text, min_size=1, max_size=25),
    generated=st.lists(papers, min_size=1, max_size=8),
    use_frequencies=st.booleans(),
)
def test_percolator_equals_evaluating_every_query(
    texts: list[str], generated: list[PaperRecord], use_frequencies: bool, real_docs: list[Document]
) -> None:
    queries = {i: compile_query(t) for i, t in enumerate(texts)}
    docs = [analyze(p) for p in generated] + real_docs
    frequencies = document_frequencies(docs) if use_frequencies else None
    percolator = Percolator(queries, doc_freq=frequencies)
    for doc in docs:
        expected = _expected(queries, doc)
        assert percolator.match(doc) == expected
        assert set(expected) <= percolator.candidates(doc)


@SETTINGS
@given(
    texts=st.lists(query_text, min_size=1, max_size=10),
    generated=st.lists(papers, min_size=1, max_size=5),
    frequencies=st.dictionaries(st.sampled_from([w.casefold() for w in VOCAB]), st.integers(0, 99)),
)
def test_any_frequencies_keep_the_percolator_exact(
    texts: list[str], generated: list[PaperRecord], frequencies: dict[str, int]
) -> None:
    queries = {i: compile_query(t) for i, t in enumerate(texts)}
    percolator = Percolator(queries, doc_freq=frequencies)
    for doc in map(analyze, generated):
        assert percolator.match(doc) == _expected(queries, doc)


@SETTINGS
@given(query_text, st.lists(papers, min_size=1, max_size=4))
def test_normal_form_round_trips_and_means_the_same(
    text: str, generated: list[PaperRecord]
) -> None:
    query = compile_query(text)
    again = compile_query(str(query))
    assert again == query
    for doc in map(analyze, generated):
        assert again.matches(doc) == query.matches(doc)
        assert (query.explain(doc) is not None) == query.matches(doc)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_fast_path_agrees_with_the_unicode_path(text: str) -> None:
    assert words(text + " é") == [*words(text), "e"]
    assert fold(text + "É") == fold(text) + "e"


def _compile(text: str) -> Query | QueryError:
    try:
        return compile_query(text)
    except QueryError as error:
        return error


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list('ab :*"()[]{}-+/\\~^<>=TOANDRNOT0129é\n')), max_size=40)
)
def test_no_text_crashes_the_parser(text: str) -> None:
    result = _compile(text)
    if isinstance(result, QueryError):
        assert 0 <= result.position <= len(text)
        assert result.expected
        assert result.caret().count("\n") == 2
    else:
        assert compile_query(str(result)) == result


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_no_unicode_crashes_the_parser(text: str) -> None:
    result = _compile(text)
    if isinstance(result, QueryError):
        assert 0 <= result.position <= len(text)
