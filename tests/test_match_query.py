"""Text analysis and query semantics on small made-up papers: the awkward cases, one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from feedd.match import Document, analyze, compile_query, fold, words
from feedd.parse import PaperRecord


def paper(title: str = "", abstract: str = "", **fields: object) -> Document:
    return analyze(PaperRecord(key=title.lower(), title=title, abstract=abstract, **fields))  # type: ignore[arg-type]


def matches(query: str, doc: Document) -> bool:
    return compile_query(query).matches(doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in-context", ["in", "context"]),
        ("GPT-4o", ["gpt", "4o"]),
        ("LoRA", ["lora"]),
        ("3D", ["3d"]),
        ("Qwen2.5", ["qwen2", "5"]),
        ("Pérez", ["perez"]),
        ("naïve", ["naive"]),
        ("ﬁne-tuning", ["fine", "tuning"]),
        ("ＬＬＭ ｘ２", ["llm", "x2"]),
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("don't O’Brien", ["don", "t", "o", "brien"]),
        ("Łukasz Søren Œuvre", ["lukasz", "soren", "oeuvre"]),
        ("snake_case", ["snake", "case"]),
        ("İstanbul", ["istanbul"]),
        ("हिन्दी 日本語", ["हिन्दी", "日本語"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_fold_is_the_same_for_ascii_and_unicode_paths() -> None:
    assert fold("Mixed CASE") == "mixed case"
    assert fold("Mixed CASÉ") == "mixed case"


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("in-context", "In-Context Learning", True),
        ("in-context", "learning in context", True),
        ("in-context", "context in learning", False),
        ('"in-context learning"', "in context: learning", True),
        ("GPT-4o", "compared with gpt-4o and gpt-4", True),
        ("gpt4o", "compared with GPT-4o", False),
        ("gpt-4*", "GPT-4V is strong", True),
        ("Qwen2.5", "the Qwen2.5 family", True),
        ("Qwen2.5", "TeleChat2.5", False),
        ("lora", "LoRA adapters", True),
        ("lora", "ALLoRA adapters", False),
        ("perez", "by J. Pérez", True),
        ("Pérez", "by J. Perez", True),
        ("naive", "a naïve baseline", True),
        ("ＬＬＭ", "LLM agents", True),
        ("strasse", "Straße", True),
        ("o'brien", "O’Brien et al.", True),
        ("distill*", "Distillation works", True),
        ("distill*", "Predistillation", False),
        ("pér*", "Perez", True),
        ("3d", "3D scenes", True),
        ('"url"', "URL", True),
        ('"https://github.com/x"', "see https://github.com/x.", True),
    ],
)
def test_default_field_text(query: str, text: str, expected: bool) -> None:
    assert matches(query, paper(text)) is expected


def test_phrases_do_not_run_from_title_into_abstract() -> None:
    doc = paper("Knowledge", "Distillation for all")
    assert matches("knowledge distillation", doc)
    assert not matches('"knowledge distillation"', doc)


def test_fields() -> None:
    doc = paper(
        "Transformers for Tabular Data",
        "We study attention.",
        organisation="ServiceNow-AI",
        authors=("Ana Pérez", "John Smith"),
    )
    assert matches("title:transformers", doc)
    assert not matches("abstract:transformers", doc)
    assert matches("abstract:attention", doc)
    assert not matches("title:attention", doc)
    assert matches("org:ServiceNow", doc)
    assert matches('org:"servicenow ai"', doc)
    assert matches("author:perez author:smith", doc)
    assert matches('author:"john smith"', doc)
    assert not matches('author:"perez john"', doc), "a phrase never spans two names"
    assert not matches("servicenow", doc), "the default field is title and abstract"
    assert matches("TITLE:(tabular OR images)", doc)
    assert matches("title:(tabular abstract:attention)", doc), "an inner field wins"


def test_author_does_not_match_the_organisation() -> None:
    doc = paper("T", "A", organisation="Smith Labs")
    assert matches("org:smith", doc)
    assert not matches("author:smith", doc)
    assert not matches("has:authors", doc)
    assert matches("has:org", doc)


def test_numbers_dates_and_flags() -> None:
    doc = paper(
        "T",
        "A",
        upvotes=5,
        authors_count=3,
        published=date(2024, 3, 10),
        code_urls=("https://github.com/a/b",),
        arxiv_id="2403.01234",
    )
    for query in (
        "upvotes:5 upvotes:>=5 upvotes:>4 upvotes:<=5 upvotes:<6 upvotes:=5",
        "upvotes:[5 TO 5] upvotes:{4 TO 6} upvotes:[5 TO *] upvotes:[* TO 5]",
        "authors:3 authors:<=3 authors:[1 TO 3]",
        "published:2024 published:2024-03 published:2024-03-10 published:>=2024-03",
        "published:[2024-01 TO 2024-03] published:{2024-03-09 TO 2024-03-11} published:<2025",
        "has:code has:arxiv",
    ):
        assert matches(query, doc), query
    for query in (
        "upvotes:>5",
        "upvotes:{5 TO *]",
        "authors:<3",
        "published:>2024",
        "published:{2024-03-10 TO 2024-04}",
        "published:2024-03-11",
        "-has:code",
        "has:authors",
    ):
        assert not matches(query, doc), query


def test_a_paper_without_a_value_never_matches_a_comparison() -> None:
    doc = paper("T", "A")
    for query in ("upvotes:>=0", "upvotes:<100", "authors:[* TO *]", "published:<3000"):
        assert not matches(query, doc)
    assert matches("NOT upvotes:>=0", doc)


def test_author_names_count_when_there_is_no_count() -> None:
    doc = paper("T", "A", authors=("A", "B"))
    assert matches("authors:2 has:authors", doc)


def test_precedence_and_operators() -> None:
    doc = paper("alpha gamma")
    assert matches("alpha OR beta gamma", doc)
    assert not matches("(beta OR delta) gamma", doc)
    assert matches("NOT beta gamma", doc)
    assert not matches("NOT (alpha gamma)", doc)
    assert matches("-beta +gamma", doc)
    assert not matches("alpha and gamma", doc), "lower-case 'and' is a word"
    assert matches("alpha AND gamma", doc)
    assert matches("NOT NOT alpha", doc)


def test_regex_sees_the_original_text_case_sensitively() -> None:
    doc = paper("LLM agents in the wild", "Code: https://github.com/x/y", authors=("Li Wei",))
    assert matches("title:/^LLM/", doc)
    assert not matches("title:/^llm/", doc)
    assert matches("title:/(?i)^llm/", doc)
    assert matches("abstract:/github\\.com\\/x/", doc)
    assert matches("author:/^Li /", doc)
    assert matches("/agents/", doc), "a bare regex searches title and abstract"
    assert not matches("org:/./", doc)


def test_normal_form_parses_back_to_an_equal_query() -> None:
    for text in (
        'title:"knowledge distillation" OR distill* -survey',
        "a OR b c",
        "NOT (a OR b) upvotes:>5 published:[2024-01 TO 2024-06}",
        "gpt-4* title:/^LLM\\/x/ has:code authors:<=3",
        "(a OR b) (c OR NOT d)",
    ):
        query = compile_query(text)
        again = compile_query(str(query))
        assert again == query
        assert hash(again) == hash(query)


def test_equal_trees_are_equal_queries() -> None:
    assert compile_query("a b") == compile_query("a AND b") == compile_query("+A +a b")
    assert compile_query("upvotes:>5") == compile_query("upvotes:>=6")
    assert compile_query("a OR b c") == compile_query("a OR (b AND c)")
    assert compile_query("a OR b c") != compile_query("(a OR b) c")
    assert len({compile_query("x y"), compile_query("x AND y")}) == 1


def test_describe_shows_the_tree() -> None:
    described = compile_query("title:(lora OR qwen*) -survey upvotes:>=5").describe()
    assert described.splitlines() == [
        "ALL OF (AND)",
        "  ANY OF (OR)",
        "    title:lora    -- the word 'lora' in title",
        "    title:qwen*    -- a word starting with 'qwen' in title",
        "  NOT",
        "    survey    -- the word 'survey' in title or abstract",
        "  upvotes:>=5    -- upvotes is at least 5; papers without this value never match",
    ]


def test_explain_reports_words_per_field() -> None:
    doc = paper("Distilling LLMs", "We distill and distil LLMs; knowledge distillation.")
    assert compile_query("distil* upvotes:[* TO *]").explain(doc) is None
    result = compile_query('distil* "knowledge distillation" -survey').explain(doc)
    assert result is not None
    assert result.terms == {
        "abstract": ("distil", "distill", "distillation", "knowledge distillation"),
        "title": ("distilling",),
    }
    assert result.words == (
        "distil",
        "distill",
        "distillation",
        "distilling",
        "knowledge distillation",
    )
    either = compile_query("llms OR nothing").explain(doc)
    assert either is not None
    assert either.terms == {"abstract": ("llms",), "title": ("llms",)}


def test_analyze_takes_any_object_with_the_paper_fields() -> None:
    @dataclass(frozen=True)
    class StoredPaper:
        id: int
        title: str
        abstract: str
        authors_count: int | None
        authors: list[str]
        organisation: str | None
        published: date | None
        upvotes: int | None
        arxiv_id: str | None
        code_urls: list[str]

    stored = StoredPaper(1, "Tiny LLMs", "x", None, ["Ada"], None, None, 2, "1234.5678", [])
    assert compile_query("tiny author:ada has:arxiv upvotes:2").matches(analyze(stored))
