"""Queries that do not parse: the position, what was expected, and how a person sees it."""

from __future__ import annotations

import pytest

from feedd.errors import FeeddError
from feedd.match import QueryError, compile_query

FIELDS = "fields are title, abstract, org, author, upvotes, authors, published, has"

# (query, position, words the message must contain)
BAD = [
    ("", 0, "the query is empty"),
    ("   ", 0, "the query is empty"),
    ("title:(a OR", 11, "expected a term, phrase or '(' after OR"),
    ("diffusion AND", 13, "expected a term, phrase or '(' after AND"),
    ("a AND OR b", 6, "expected a term, phrase or '(' after AND"),
    ("OR a", 0, "expected a term, phrase or '(' at the start of the query"),
    ("x NOT", 5, "after NOT"),
    ("foo:bar", 0, f"unknown field 'foo'; {FIELDS}"),
    ("diffusion Foo:bar", 10, "unknown field 'Foo'"),
    ("https://github.com", 0, "put text containing ':' in quotes"),
    ("upvotes:>=many", 10, "expected a whole number after upvotes:, not 'many'"),
    ("authors:smith", 8, "author: searches names"),
    ("published:2024-13-01", 10, "expected a date as 2024-01-31, 2024-01 or 2024"),
    ("published:>=yesterday", 12, "not 'yesterday'"),
    ("published:>9999-12-31", 11, "a date between 0001-01-01 and 9999-12-31"),
    ("(diffusion OR lora", 18, "expected ')' to close the '(' at position 0"),
    ("(a (b)", 6, "expected ')' to close the '(' at position 0"),
    ("diffusion)", 9, "this ')' closes no '('"),
    ('"knowledge distillation', 0, "this quote is never closed"),
    ("a - b", 2, "'-' must be directly followed by the term it excludes"),
    ("x +", 2, "'+' must be directly followed by the term it requires"),
    ("*", 0, "a word cannot start with '*'"),
    ("*distill", 0, "a word cannot start with '*'"),
    ("dis*till", 3, "'*' only at the end of a word"),
    ("title:foo-*", 10, "a letter or digit before '*'"),
    ("title:/(unclosed/", 6, "invalid regular expression: missing )"),
    ("title:/(a)\\1/", 6, "invalid regular expression"),
    ("title:/" + "a" * 201 + "/", 6, "a regular expression of at most 200 characters"),
    ("title:/abc", 6, "this regular expression never ends"),
    ("has:pdf", 4, "code, arxiv, authors or org after has:"),
    ("title:>=5", 6, "title: is a text field"),
    ("upvotes:/5/", 8, "a number, a comparison or a range after upvotes:"),
    ("upvotes:[5 TO 1]", 8, "this range is empty"),
    ("published:[2024 TO 2025", 23, "']' or '}' to close the range"),
    ("published:[2024 2025]", 16, "expected TO after 2024"),
    ("[1 TO 5]", 0, "ranges need a field"),
    ("a >= 5", 2, "comparisons need a numeric field"),
    ('title:"!!!"', 6, "nothing to search for"),
    ("lora~2", 4, "'~' (fuzzy, proximity or boost) is not supported"),
    ("org:", 4, "after org:"),
]


@pytest.mark.parametrize(("query", "position", "words"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_bad_query_names_position_and_expectation(query: str, position: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    error = caught.value
    assert (error.query, error.position) == (query, position)
    assert words in error.one_line()
    assert error.one_line().startswith(f"position {position}: ")
    assert error.expected  # always something a person can act on


def test_one_line_reads_as_the_spec_says() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query("title:(a OR b) AND")
    assert caught.value.one_line() == "position 18: expected a term, phrase or '(' after AND"
    assert caught.value.expected == "a term, phrase or '(' after AND"


def test_caret_points_under_the_position() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query("diffusion foo:bar")
    assert caught.value.caret() == (
        f"diffusion foo:bar\n          ^\nposition 10: unknown field 'foo'; {FIELDS}"
    )


def test_caret_counts_wide_characters_and_flattens_line_breaks() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query("日本\nAND")
    lines = caught.value.caret().splitlines()
    assert lines[0] == "日本 AND"
    assert lines[1] == " " * 8 + "^"  # two wide characters (4 columns), a space, "AND"


def test_query_error_is_a_feedd_error_with_a_message() -> None:
    with pytest.raises(FeeddError) as caught:
        compile_query("foo:bar")
    assert str(caught.value) == f"invalid query: position 0: unknown field 'foo'; {FIELDS}"


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(QueryError, match="nested more than"):
        compile_query("(" * 150 + "a" + ")" * 150)
    with pytest.raises(QueryError, match="longer than"):
        compile_query("a " * 1500)
