"""The query language's grammar (lark, LALR) and the translation of lark's errors for people.

Lexical decisions a user can see (the README of the query language is ``feedd/match/__init__``):

- ``AND``, ``OR``, ``NOT`` (and ``TO`` inside a range) are operators only in upper case; a
  lower-case ``and`` is a word. Outside a range an upper-case ``TO`` is the word "to".
- ``-`` and ``+`` are operators only when they start a term and are directly followed by it
  (``-survey``); inside a word they separate its parts (``in-context``). A lone ``-`` is an error.
- ``name:`` starts a field only for a known field name (any case); any other ``word:`` is an
  "unknown field" error, so text containing a colon (a URL) must be quoted.
- A word may not start with ``*``, ``/``, ``<``, ``>`` or ``=``, and ``~`` and ``^`` (Lucene's
  fuzzy, proximity and boost marks) are refused anywhere outside quotes rather than ignored.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from feedd.match.errors import QueryError
from feedd.match.nodes import AUTHORS, FIELD_NAMES, PUBLISHED, UPVOTES

GRAMMAR = r"""
start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: unary (AND? unary)*
?unary: NOT unary    -> not_
      | MINUS unary  -> not_
      | PLUS unary   -> plus
      | primary
?primary: LPAR or_expr RPAR   -> group
        | FIELD value         -> fielded
        | WORD | TO | PHRASE | REGEX
?value: LPAR or_expr RPAR     -> group
      | WORD | TO | PHRASE | REGEX
      | COMPARE WORD          -> compare
      | (LBRACK | LBRACE) bound TO bound (RBRACK | RBRACE) -> range
bound: WORD | STAR

FIELD.2: /(?i:title|abstract|org|authors|author|upvotes|published|has):/
WORD: /[^\s()"\[\]{}:+\-*\/~^<>=][^\s()"\[\]{}:~^]*/
PHRASE: /"(?:[^"\\]|\\.)*"/
REGEX: /\/(?:[^\/\\]|\\.)+\//
COMPARE: /[<>]=?|=/
AND: "AND"
OR: "OR"
NOT: "NOT"
TO: "TO"
MINUS: /-(?=\S)/
PLUS: /\+(?=\S)/
STAR: "*"
LPAR: "("
RPAR: ")"
LBRACK: "["
RBRACK: "]"
LBRACE: "{"
RBRACE: "}"

%import common.WS
%ignore WS
"""

MAX_LENGTH = 2000
TERM = "a term, phrase or '('"
_FIELD_LIST = ", ".join(FIELD_NAMES)
_BEFORE_COLON = re.compile(r"[^\s()\"\[\]{}:]+$")
_SPECIAL = {
    "STAR": "a word cannot start with '*'; a wildcard goes at the end, as in distill*",
    "COMPARE": "comparisons need a numeric field, as in upvotes:>=5",
    "LBRACK": "ranges need a field, as in published:[2024-01-01 TO 2024-06-30]",
    "LBRACE": "ranges need a field, as in upvotes:{1 TO 10}",
    "RPAR": "this ')' closes no '('",
}
_RANGE_TOKENS = frozenset({"LBRACK", "LBRACE", "TO"})
_TEXT_VALUE = "a word, phrase, /regex/ or '('"
_VALUE_OF = {
    UPVOTES: "a number, a comparison or a range (upvotes:>=5, upvotes:[1 TO 10])",
    AUTHORS: "a number, a comparison or a range (authors:<=3, authors:[2 TO 5])",
    PUBLISHED: "a date, a comparison or a range (published:>=2024-01, published:2024)",
    "has": "code, arxiv, authors or org",
}


@cache
def _parser() -> Lark:
    # The basic lexer, not the contextual one: with it AND/OR/NOT are operators everywhere, so
    # "a AND AND b" is an error instead of quietly searching for the word "and".
    return Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)


def parse(query: str) -> Tree[Token]:
    """The lark tree of ``query``; ``QueryError`` when it does not parse."""
    if len(query) > MAX_LENGTH:
        raise QueryError(
            query,
            MAX_LENGTH,
            "a shorter query",
            f"the query is longer than {MAX_LENGTH} characters",
        )
    if not query.strip():
        raise QueryError(query, 0, "a search term", "the query is empty")
    try:
        return _parser().parse(query)
    except UnexpectedInput as error:
        raise _translate(query, error) from None


def _translate(query: str, error: UnexpectedInput) -> QueryError:
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(query, error.pos_in_stream or 0)
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        return _bad_token(query, error.token, set(error.expected))
    expected = set(error.expected) if isinstance(error, UnexpectedToken | UnexpectedEOF) else set()
    return _early_end(query, expected)


def _bad_character(query: str, pos: int) -> QueryError:
    char = query[pos]
    if char == ":":
        return _unknown_field(query, pos)
    if char == '"':
        return QueryError(query, pos, "a closing '\"'", "this quote is never closed")
    if char == "/":
        empty = query.startswith("//", pos)
        reason = "empty regular expression" if empty else "this regular expression never ends"
        return QueryError(query, pos, "a closing '/'", reason)
    if char in "-+":
        what = "excludes" if char == "-" else "requires"
        return QueryError(
            query,
            pos,
            f"a term directly after '{char}'",
            f"'{char}' must be directly followed by the term it {what}, as in {char}survey",
        )
    if char in "~^":
        return QueryError(
            query, pos, TERM, f"'{char}' (fuzzy, proximity or boost) is not supported"
        )
    return QueryError(query, pos, TERM, f"unexpected {char!r}")


def _unknown_field(query: str, colon: int) -> QueryError:
    before = _BEFORE_COLON.search(query, 0, colon)
    if before is None:
        return QueryError(query, colon, TERM, "unexpected ':' (no field name before it)")
    name = before.group()
    reason = f"unknown field '{name}'; fields are {_FIELD_LIST}"
    if name.lower() in ("http", "https", "ftp", "doi"):
        reason += "; put text containing ':' in quotes"
    return QueryError(query, before.start(), "a known field", reason)


def _bad_token(query: str, token: Token, expected: set[str]) -> QueryError:
    pos = token.start_pos or 0
    reason = _SPECIAL.get(token.type)
    if token.type == "RPAR" and "$END" not in expected:
        reason = None  # "(a AND )": the ')' is fine, something is missing before it
    return QueryError(query, pos, _expected(query, pos, expected), reason)


def _early_end(query: str, expected: set[str]) -> QueryError:
    pos = len(query.rstrip())
    opened = _open_parens(query, pos)
    if expected == {"RPAR"} and opened:
        return QueryError(query, pos, f"')' to close the '(' at position {opened[-1]}")
    return QueryError(query, pos, _expected(query, pos, expected))


def _expected(query: str, pos: int, expected: set[str]) -> str:
    """What ``expected`` (lark terminal names) means here, ending with where: "after AND"."""
    previous = _previous_token(query, pos)
    where = f"after {previous}" if previous is not None else "at the start of the query"
    if previous is not None and previous.type == "FIELD":
        name = previous.lower().rstrip(":")
        return f"{_VALUE_OF.get(name, _TEXT_VALUE)} after {name}:"
    if "WORD" in expected and "LPAR" in expected:
        return f"{TERM} {where}"
    if "STAR" in expected:
        return f"a value or '*' {where}"
    if "RBRACK" in expected:
        # One LALR state serves both bounds, so lark offers TO after the second one too.
        in_range = [t.type for t in _lex_until(query, pos) if t.type in _RANGE_TOKENS]
        after_to = bool(in_range) and in_range[-1] == "TO"
        return f"']' or '}}' to close the range {where}" if after_to else f"TO {where}"
    if "RPAR" in expected:
        return f"')', an operator or {TERM} {where}"
    return f"an operator or the end of the query {where}"


def _lex_until(query: str, pos: int) -> list[Token]:
    """The tokens of ``query`` that end at or before ``pos`` (lexing stops at a bad character)."""
    tokens = []
    try:
        for token in _parser().lex(query):
            if (token.end_pos or 0) > pos:
                break
            tokens.append(token)
    except UnexpectedInput:
        pass
    return tokens


def _previous_token(query: str, pos: int) -> Token | None:
    tokens = _lex_until(query, pos)
    return tokens[-1] if tokens else None


def _open_parens(query: str, pos: int) -> list[int]:
    """Where the parentheses still open at ``pos`` were opened, innermost last."""
    opened: list[int] = []
    for token in _lex_until(query, pos):
        if token.type == "LPAR":
            opened.append(token.start_pos or 0)
        elif token.type == "RPAR" and opened:
            opened.pop()
    return opened
