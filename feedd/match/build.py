"""From lark's parse tree to query nodes: fields applied, words analysed, values checked.

Everything that parses but cannot mean anything (a comparison on a text field, a bad date, an
invalid regular expression) is refused here, with the position of the offending token.
"""

from __future__ import annotations

import re
from datetime import date

import re2  # type: ignore[import-untyped]
from lark import Token, Tree

from feedd.match.analysis import is_word_char, words
from feedd.match.errors import QueryError
from feedd.match.evaluate import compiled
from feedd.match.nodes import (
    AUTHORS,
    HAS_VALUES,
    NUMERIC_FIELDS,
    PUBLISHED,
    TEXT,
    Has,
    Node,
    Phrase,
    Prefix,
    Range,
    Regex,
    Word,
    make_and,
    make_not,
    make_or,
)

MAX_REGEX = 200
MAX_DEPTH = 100
_OPERATORS = frozenset({"AND", "OR", "NOT", "MINUS", "PLUS", "LPAR", "RPAR"})
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
_NUMBER = re.compile(r"[0-9]{1,9}")
_DAYS = (date.min.toordinal(), date.max.toordinal())


_At = Token | Tree[Token] | int


def build(query: str, tree: Tree[Token]) -> Node:
    """The query node for ``tree``, parsed from ``query``."""
    return _Builder(query).node(tree.children[0], TEXT, 0)


class _Builder:
    def __init__(self, query: str) -> None:
        self.query = query

    def error(self, at: _At, expected: str, reason: str | None = None) -> QueryError:
        return QueryError(self.query, _position(at), expected, reason)

    def node(self, item: Token | Tree[Token], field: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(item, "a simpler query", f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, Token):
            return self.term(item, field)
        operands = [c for c in item.children if not _is_operator(c)]
        kind = item.data
        if kind == "or_expr":
            return make_or([self.node(c, field, depth + 1) for c in operands])
        if kind == "and_expr":
            return make_and([self.node(c, field, depth + 1) for c in operands])
        if kind == "not_":
            return make_not(self.node(operands[0], field, depth + 1))
        if kind in ("plus", "group"):
            return self.node(operands[0], field, depth + 1)
        if kind == "fielded":
            field_token, value = item.children
            assert isinstance(field_token, Token)
            return self.fielded(field_token, value, depth)
        raise self.error(item, "a term", f"unexpected {kind}")  # the grammar has no other rule

    def term(self, token: Token, field: str) -> Node:
        if token.type == "PHRASE":
            return self.words(token, field, token[1:-1], prefix=False)
        if token.type == "REGEX":
            return self.regex(token, field)
        star = token.find("*")
        if star < 0:
            return self.words(token, field, str(token), prefix=False)
        if star != len(token) - 1:
            at = _position(token) + star
            raise self.error(at, "'*' only at the end of a word, as in distill*")
        if not is_word_char(token[-2]):
            at = _position(token) + star
            raise self.error(at, "a letter or digit before '*'")
        return self.words(token, field, token[:-1], prefix=True)

    def words(self, token: Token, field: str, text: str, *, prefix: bool) -> Node:
        found = tuple(words(text))
        if not found:
            raise self.error(
                token, "a word with letters or digits", f"{token} has nothing to search for"
            )
        if len(found) > 1:
            return Phrase(field, found, prefix_last=prefix)
        return Prefix(field, found[0]) if prefix else Word(field, found[0])

    def regex(self, token: Token, field: str) -> Node:
        pattern = token[1:-1]
        if len(pattern) > MAX_REGEX:
            raise self.error(token, f"a regular expression of at most {MAX_REGEX} characters")
        try:
            compiled(pattern)  # refused here, at parse time; cached for the matcher
        except re2.error as error:
            detail = (
                error.args[0].decode()
                if error.args and isinstance(error.args[0], bytes)
                else str(error)
            )
            raise self.error(
                token, "a valid regular expression", f"invalid regular expression: {detail}"
            ) from None
        return Regex(field, pattern)

    def fielded(self, field_token: Token, value: Token | Tree[Token], depth: int) -> Node:
        name = field_token.lower().rstrip(":")
        if name == "has":
            return self.has(value)
        if name in NUMERIC_FIELDS:
            return self.numeric(name, value)
        if isinstance(value, Tree) and value.data in ("compare", "range"):
            raise self.error(
                value,
                f"a word, phrase or /regex/ after {name}:",
                f"{name}: is a text field; comparisons and ranges work on "
                "upvotes, authors and published",
            )
        return self.node(value, name, depth + 1)

    def has(self, value: Token | Tree[Token]) -> Node:
        if isinstance(value, Token) and value.type == "WORD" and value.lower() in HAS_VALUES:
            return Has(value.lower())
        raise self.error(value, "code, arxiv, authors or org after has:")

    def numeric(self, field: str, value: Token | Tree[Token]) -> Node:
        if isinstance(value, Token) and value.type == "WORD":
            low, high = self.interval(field, value)
            return Range(field, low, high)
        if isinstance(value, Tree) and value.data == "compare":
            op, operand = value.children
            assert isinstance(op, Token)
            assert isinstance(operand, Token)
            return self.compare(field, str(op), operand)
        if isinstance(value, Tree) and value.data == "range":
            return self.range(field, value)
        hint = "or author: to search names" if field == "authors" else ""
        raise self.error(
            value, f"a {self.kind(field)}, a comparison or a range after {field}: {hint}".rstrip()
        )

    def compare(self, field: str, op: str, operand: Token) -> Node:
        low, high = self.interval(field, operand)
        bounds = {
            ">=": (low, None),
            ">": (high + 1, None),
            "<=": (None, high),
            "<": (None, low - 1),
        }
        return self.checked(field, *bounds.get(op, (low, high)), at=operand)

    def range(self, field: str, tree: Tree[Token]) -> Node:
        opening, low_tree, _, high_tree, closing = tree.children
        low_token, high_token = _bound(low_tree), _bound(high_tree)
        low = high = None
        if low_token.type != "STAR":
            first, last = self.interval(field, low_token)
            low = first if opening == "[" else last + 1
        if high_token.type != "STAR":
            first, last = self.interval(field, high_token)
            high = last if closing == "]" else first - 1
        if low is not None and high is not None and low > high:
            raise self.error(
                tree, "a range whose start is not after its end", "this range is empty"
            )
        return self.checked(field, low, high, at=tree)

    def checked(self, field: str, low: int | None, high: int | None, *, at: _At) -> Range:
        """``Range(field, low, high)``, refused when a date bound left the calendar."""
        if field == PUBLISHED and not all(
            _DAYS[0] <= b <= _DAYS[1] for b in (low, high) if b is not None
        ):
            raise self.error(at, "a date between 0001-01-01 and 9999-12-31")
        return Range(field, low, high)

    def interval(self, field: str, token: Token) -> tuple[int, int]:
        """The first and last value ``token`` names: a number, or the days of a date/month/year."""
        if field != PUBLISHED:
            if not _NUMBER.fullmatch(token):
                hint = "; author: searches names" if field == AUTHORS else ""
                raise self.error(token, f"a whole number after {field}:, not '{token}'{hint}")
            return int(token), int(token)
        found = _DATE.fullmatch(token)
        try:
            if found is None:
                raise ValueError(token)
            return _date_interval(*found.groups())
        except ValueError:
            raise self.error(
                token, f"a date as 2024-01-31, 2024-01 or 2024 after published:, not '{token}'"
            ) from None

    @staticmethod
    def kind(field: str) -> str:
        return "date" if field == PUBLISHED else "number"


def _date_interval(year: str, month: str | None, day: str | None) -> tuple[int, int]:
    y = int(year)
    if month is None:
        return date(y, 1, 1).toordinal(), date(y, 12, 31).toordinal()
    m = int(month)
    if day is not None:
        one = date(y, m, int(day)).toordinal()
        return one, one
    start = date(y, m, 1)
    after = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return start.toordinal(), after.toordinal() - 1


def _bound(tree: Token | Tree[Token]) -> Token:
    token = tree.children[0] if isinstance(tree, Tree) else tree
    assert isinstance(token, Token)
    return token


def _is_operator(item: Token | Tree[Token]) -> bool:
    return isinstance(item, Token) and item.type in _OPERATORS


def _position(at: _At) -> int:
    if isinstance(at, int):
        return at
    if isinstance(at, Token):
        return at.start_pos or 0
    return getattr(at.meta, "start_pos", 0) or 0
