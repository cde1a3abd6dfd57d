"""The percolator's index: what it files a query under, and that selective queries cost nothing
for the papers they cannot match."""

from __future__ import annotations

from datetime import date

import pytest

from feedd.match import Document, Percolator, analyze, compile_query
from feedd.parse import PaperRecord


def doc(title: str, abstract: str = "", **fields: object) -> Document:
    return analyze(PaperRecord(key="k", title=title, abstract=abstract, **fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "anchors"),
    [
        ("distillation survey", "indexed under: distillation (then needs: survey)"),
        ("the diffusion", "indexed under: diffusion (then needs: the)"),
        ("the", "indexed under: the"),
        ('"knowledge distillation" -survey', "indexed under: distillation (then needs: knowledge)"),
        ("lora OR qwen*", "indexed under: lora, qwen*"),
        ("title:lora diffusion", "indexed under: title:lora (then needs: diffusion)"),
        ("(a OR b) upvotes:>=3", "indexed under: a, b (then needs: upvotes:>=3)"),
        ("title:/^LLM/", "indexed under: title:/^LLM/"),
        ("upvotes:>=5", "indexed under: upvotes:>=5"),
        ("NOT survey", "checked for every paper (it requires no particular word)"),
        ("lora OR NOT survey", "checked for every paper (it requires no particular word)"),
    ],
)
def test_anchors_without_frequencies(query: str, anchors: str) -> None:
    assert Percolator({}).anchors(compile_query(query)) == anchors


def test_frequencies_choose_the_rarest_word() -> None:
    query = compile_query("alpha beta")
    assert (
        Percolator({}, doc_freq={"alpha": 1, "beta": 50})
        .anchors(query)
        .startswith("indexed under: alpha (")
    )
    assert (
        Percolator({}, doc_freq={"alpha": 50, "beta": 1})
        .anchors(query)
        .startswith("indexed under: beta (")
    )
    prefixed = compile_query("dist* lora")
    many = {"distillation": 40, "distance": 30, "lora": 5}
    assert Percolator({}, doc_freq=many).anchors(prefixed) == (
        "indexed under: lora (then needs: dist*)"
    )


def test_selective_queries_are_not_candidates_for_papers_without_their_words() -> None:
    queries = {f"niche{i}": compile_query(f"word{i} other{i}") for i in range(3000)}
    queries |= {f"phrase{i}": compile_query(f'"rare{i} thing"') for i in range(1000)}
    queries |= {f"prefix{i}": compile_query(f"pre{i}x* upvotes:>=3") for i in range(1000)}
    queries["lora"] = compile_query("lora -survey")
    percolator = Percolator(queries)
    assert len(percolator) == 5001
    paper = doc("LoRA for everyone", "We adapt models with low rank updates and word7.")
    # niche7 is filed under one of its words and checked against the other: not a candidate.
    assert percolator.candidates(paper) == {"lora"}
    assert list(percolator.match(paper)) == ["lora"]
    both = doc("word7 and other7")
    assert percolator.candidates(both) == {"niche7"}


def test_match_keeps_the_order_given_and_says_what_matched() -> None:
    queries = {
        "b": compile_query("lora"),
        "a": compile_query("title:/^Lo/ upvotes:>=2"),
        "c": compile_query("survey"),
        "d": compile_query("NOT survey"),
    }
    found = Percolator(queries).match(doc("LoRA tricks", "x", upvotes=3))
    assert list(found) == ["b", "a", "d"]
    assert found["b"].terms == {"title": ("lora",)}
    assert found["a"].terms == {"title": ("Lo",)}
    assert found["d"].terms == {}


def test_filters_and_regexes_are_shared_by_the_queries_that_use_them() -> None:
    queries = {i: compile_query(f"published:>=2024 title:/^T{i % 3}/") for i in range(30)}
    percolator = Percolator(queries)
    old = doc("T1 old", "x", published=date(2020, 1, 1))
    new = doc("T1 new", "x", published=date(2024, 5, 1))
    ones = {1, 4, 7, 10, 13, 16, 19, 22, 25, 28}
    assert percolator.candidates(new) == ones
    assert set(percolator.match(new)) == ones
    assert percolator.candidates(old) == set()  # filed under the regex, checked by the date
