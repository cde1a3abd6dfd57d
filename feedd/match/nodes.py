"""The parsed query: a small tree of frozen, hashable nodes, and its two renderings.

Every leaf carries the field it searches. Text leaves hold words already folded by
``feedd.match.analysis``; numeric leaves hold a closed integer interval (dates as ordinals), so
``upvotes:>5`` and ``upvotes:>=6`` are the same node. ``str(node)`` is a normal form in the query
language that parses back to the same tree; ``describe`` is an indented tree for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeAlias

# Text fields. TEXT is the default field: title or abstract.
TEXT, TITLE, ABSTRACT, ORG, AUTHOR = "text", "title", "abstract", "org", "author"
TEXT_FIELDS = (TEXT, TITLE, ABSTRACT, ORG, AUTHOR)
UPVOTES, AUTHORS, PUBLISHED = "upvotes", "authors", "published"
NUMERIC_FIELDS = (UPVOTES, AUTHORS, PUBLISHED)
HAS_VALUES = ("code", "arxiv", "authors", "org")
FIELD_NAMES = (TITLE, ABSTRACT, ORG, AUTHOR, UPVOTES, AUTHORS, PUBLISHED, "has")

_FIELD_WORDS = {
    TEXT: "title or abstract",
    TITLE: "title",
    ABSTRACT: "abstract",
    ORG: "organisation",
    AUTHOR: "author names",
}
_HAS_WORDS = {
    "code": "links to code",
    "arxiv": "has a known arXiv id",
    "authors": "has known author names",
    "org": "has an organisation",
}


@dataclass(frozen=True, slots=True)
class Word:
    field: str
    word: str

    def __str__(self) -> str:
        return _prefixed(self.field, self.word)


@dataclass(frozen=True, slots=True)
class Prefix:
    field: str
    prefix: str

    def __str__(self) -> str:
        return _prefixed(self.field, self.prefix + "*")


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words next to each other, in order; with ``prefix_last`` the last one is a prefix."""

    field: str
    words: tuple[str, ...]
    prefix_last: bool = False

    def __str__(self) -> str:
        if self.prefix_last:  # only unquoted text can say this: gpt-4*
            return _prefixed(self.field, "-".join(self.words) + "*")
        return _prefixed(self.field, '"' + " ".join(self.words) + '"')


@dataclass(frozen=True, slots=True)
class Regex:
    """An RE2 pattern, exactly as written between the slashes, searched in the original text."""

    field: str
    pattern: str

    def __str__(self) -> str:
        return _prefixed(self.field, "/" + self.pattern + "/")


@dataclass(frozen=True, slots=True)
class Range:
    """``low <= value <= high`` (``None``: open); published dates are ordinals."""

    field: str
    low: int | None
    high: int | None

    def __str__(self) -> str:
        low, high = self._show(self.low), self._show(self.high)
        if self.low == self.high and self.low is not None:
            return f"{self.field}:{low}"
        if self.low is None and self.high is None:
            return f"{self.field}:[* TO *]"
        if self.high is None:
            return f"{self.field}:>={low}"
        if self.low is None:
            return f"{self.field}:<={high}"
        return f"{self.field}:[{low} TO {high}]"

    def _show(self, value: int | None) -> str:
        if value is None:
            return "*"
        return date.fromordinal(value).isoformat() if self.field == PUBLISHED else str(value)


@dataclass(frozen=True, slots=True)
class Has:
    what: str

    def __str__(self) -> str:
        return f"has:{self.what}"


@dataclass(frozen=True, slots=True)
class Not:
    child: Node

    def __str__(self) -> str:
        inner = str(self.child)
        return f"NOT ({inner})" if isinstance(self.child, And | Or) else f"NOT {inner}"


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(f"({c})" if isinstance(c, Or) else str(c) for c in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(str(c) for c in self.children)


Leaf: TypeAlias = Word | Prefix | Phrase | Regex | Range | Has
Node: TypeAlias = Leaf | Not | And | Or


def whole_words(node: Word | Prefix | Phrase) -> tuple[str, ...]:
    """The whole words ``node`` needs, in order (a prefix is not one)."""
    if isinstance(node, Word):
        return (node.word,)
    if isinstance(node, Prefix):
        return ()
    return node.words[:-1] if node.prefix_last else node.words


def _prefixed(field: str, value: str) -> str:
    return value if field == TEXT else f"{field}:{value}"


def make_and(children: list[Node]) -> Node:
    """An AND of ``children``: nested ANDs flattened, repeats dropped, one child unwrapped."""
    return _combine(And, children)


def make_or(children: list[Node]) -> Node:
    return _combine(Or, children)


def make_not(child: Node) -> Node:
    return child.child if isinstance(child, Not) else Not(child)


def _combine(kind: type[And] | type[Or], children: list[Node]) -> Node:
    flat: dict[Node, None] = {}
    for child in children:
        for grandchild in child.children if isinstance(child, kind) else (child,):
            flat[grandchild] = None
    if len(flat) == 1:
        return next(iter(flat))
    return kind(tuple(flat))


def describe(node: Node, indent: str = "") -> str:
    """The tree, one node a line, each leaf in query syntax followed by what it means."""
    if isinstance(node, And | Or):
        head = "ALL OF (AND)" if isinstance(node, And) else "ANY OF (OR)"
        return "\n".join([indent + head, *(describe(c, indent + "  ") for c in node.children)])
    if isinstance(node, Not):
        return f"{indent}NOT\n{describe(node.child, indent + '  ')}"
    return f"{indent}{node}    -- {_meaning(node)}"


def _meaning(leaf: Leaf) -> str:
    if isinstance(leaf, Has):
        return f"the paper {_HAS_WORDS[leaf.what]}"
    if isinstance(leaf, Range):
        return _range_meaning(leaf)
    where = _FIELD_WORDS[leaf.field]
    if isinstance(leaf, Word):
        return f"the word {leaf.word!r} in {where}"
    if isinstance(leaf, Prefix):
        return f"a word starting with {leaf.prefix!r} in {where}"
    if isinstance(leaf, Phrase):
        tail = " (the last one a prefix)" if leaf.prefix_last else ""
        return f"the words {' '.join(leaf.words)!r} next to each other{tail} in {where}"
    return f"the regular expression {leaf.pattern!r} on the original {where} (case-sensitive)"


def _range_meaning(leaf: Range) -> str:
    low, high = leaf._show(leaf.low), leaf._show(leaf.high)
    if leaf.low is not None and leaf.high is not None:
        says = f"is {low}" if low == high else f"is between {low} and {high}"
    elif leaf.low is not None:
        says = f"is {low} or later" if leaf.field == PUBLISHED else f"is at least {low}"
    elif leaf.high is not None:
        says = f"is {high} or earlier" if leaf.field == PUBLISHED else f"is at most {high}"
    else:
        says = "is known"
    return f"{leaf.field} {says}; papers without this value never match"
