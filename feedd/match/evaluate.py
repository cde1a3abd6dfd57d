"""A paper analysed once (``Document``), and query nodes compiled into fast match functions.

Phrases and prefixes are substring tests in C: each field's words are joined as
``" w1 w2 w3 "``, so a phrase ``knowledge distillation`` is the substring
``" knowledge distillation "`` and a prefix ``distill*`` is ``" distill"``. Separate values of a
field (two author names; title and abstract in the default field) are joined with two spaces, so
no phrase runs from one into the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple, Protocol

import re2  # type: ignore[import-untyped]

from feedd.match.analysis import words
from feedd.match.nodes import (
    ABSTRACT,
    AUTHOR,
    ORG,
    TEXT,
    TITLE,
    And,
    Has,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Range,
    Regex,
    Word,
    whole_words,
)

# Slots of a document's per-field tuples. Abstracts get no word set of their own: building one
# costs a tenth of ``analyze`` and few queries say ``abstract:``, which search ``joined`` instead.
SET_SLOT = {TEXT: 0, TITLE: 1, ORG: 2, AUTHOR: 3}
SLOT = {TEXT: 0, TITLE: 1, ABSTRACT: 2, ORG: 3, AUTHOR: 4}
_EMPTY: frozenset[str] = frozenset()

Matcher = Callable[["Document"], bool]


class PaperLike(Protocol):
    """What ``analyze`` reads: ``PaperRecord``, or the store's paper with the same field names."""

    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def authors_count(self) -> int | None: ...
    @property
    def authors(self) -> Sequence[str]: ...
    @property
    def organisation(self) -> str | None: ...
    @property
    def published(self) -> date | None: ...
    @property
    def upvotes(self) -> int | None: ...
    @property
    def arxiv_id(self) -> str | None: ...
    @property
    def code_urls(self) -> Sequence[str]: ...


class Document(NamedTuple):
    """One paper, analysed once and reused for every query (a NamedTuple: built in C)."""

    sets: tuple[frozenset[str], ...]  # the words of each SET_SLOT field
    joined: tuple[str, ...]  # " w1 w2 " per SLOT field, for phrases and prefixes
    raw: tuple[tuple[str, ...], ...]  # the original strings per SLOT field, for regexes
    all_words: frozenset[str]  # every word of every field: what the percolator looks up
    upvotes: int | None
    authors: int | None
    published: int | None  # date ordinal
    flags: frozenset[str]  # the has: values that hold


def analyze(paper: PaperLike) -> Document:
    """Analyse ``paper``'s fields once: word sets, joined words, numbers and flags."""
    title, abstract = paper.title, paper.abstract
    title_words, abstract_words = words(title), words(abstract)
    title_joined = " " + " ".join(title_words) + " "
    text_set = frozenset(title_words + abstract_words)
    org = paper.organisation or ""
    org_words = words(org) if org else []
    names = tuple(paper.authors)
    name_words = [words(name) for name in names]
    org_set = frozenset(org_words) if org_words else _EMPTY
    author_set = frozenset(w for ws in name_words for w in ws) if names else _EMPTY
    abstract_joined = " " + " ".join(abstract_words) + " "
    return Document(
        sets=(text_set, frozenset(title_words), org_set, author_set),
        joined=(
            title_joined + abstract_joined,
            title_joined,
            abstract_joined,
            " " + " ".join(org_words) + " ",
            " " + "  ".join(" ".join(ws) for ws in name_words) + " ",
        ),
        raw=((title, abstract), (title,), (abstract,), (org,) if org else (), names),
        all_words=text_set | org_set | author_set if org or names else text_set,
        upvotes=paper.upvotes,
        authors=paper.authors_count if paper.authors_count is not None else len(names) or None,
        published=paper.published.toordinal() if paper.published else None,
        flags=_flags(paper, names, org),
    )


def _flags(paper: PaperLike, names: tuple[str, ...], org: str) -> frozenset[str]:
    present = (
        ("code", paper.code_urls),
        ("arxiv", paper.arxiv_id),
        ("authors", names),
        ("org", org),
    )
    return frozenset(name for name, value in present if value)


def matcher(node: Node) -> Matcher:
    """A function telling whether a document matches ``node``; children cheapest first."""
    if isinstance(node, And | Or):
        return _boolean(node)
    if isinstance(node, Not):
        inner = matcher(node.child)
        return lambda d: not inner(d)
    return _leaf(node)


def _boolean(node: And | Or) -> Matcher:
    """AND/OR; whole words of one field are tested together, as one C-level set operation."""
    by_slot: dict[tuple[int, bool], set[str]] = {}  # (set slot, negated) -> words
    rest: list[Node] = []
    for child in node.children:
        negated = isinstance(child, Not)
        leaf = child.child if isinstance(child, Not) else child
        if isinstance(leaf, Word) and leaf.field in SET_SLOT:
            by_slot.setdefault((SET_SLOT[leaf.field], negated), set()).add(leaf.word)
        else:
            rest.append(child)
    is_and = isinstance(node, And)
    grouped = [
        _word_group(slot, frozenset(ws), negated, is_and) for (slot, negated), ws in by_slot.items()
    ]
    parts = grouped + [matcher(c) for c in sorted(rest, key=_cost)]
    return (_all if is_and else _any)(parts)


def _word_group(slot: int, group: frozenset[str], negated: bool, is_and: bool) -> Matcher:
    if len(group) == 1:
        (word,) = group
        if negated:
            return lambda d: word not in d.sets[slot]
        return lambda d: word in d.sets[slot]
    if is_and and not negated:  # all of them
        return lambda d: group <= d.sets[slot]
    if is_and:  # none of them
        return lambda d: group.isdisjoint(d.sets[slot])
    if not negated:  # any of them
        return lambda d: not group.isdisjoint(d.sets[slot])
    return lambda d: not group <= d.sets[slot]  # OR of NOTs: not all of them


def _leaf(node: Node) -> Matcher:
    if isinstance(node, Word) and node.field in SET_SLOT:
        set_slot, word = SET_SLOT[node.field], node.word
        return lambda d: word in d.sets[set_slot]
    if isinstance(node, Word | Prefix | Phrase):
        return _scan(node)
    if isinstance(node, Regex):
        slot, search = SLOT[node.field], compiled(node.pattern).search
        return lambda d: any(search(s) for s in d.raw[slot])
    if isinstance(node, Range):
        return _range(node)
    if isinstance(node, Has):
        flag = node.what
        return lambda d: flag in d.flags
    raise TypeError(f"not a query leaf: {node!r}")


def _scan(node: Word | Prefix | Phrase) -> Matcher:
    """A substring search in the joined words, after a cheap word-set test where there is one:
    scanning an abstract costs as much as twenty set lookups."""
    slot, needle = SLOT[node.field], needle_of(node)
    # An abstract word is in the default field's set (title and abstract): a test that holds.
    set_slot = SET_SLOT.get(node.field, SET_SLOT[TEXT])
    required = frozenset(whole_words(node))
    if not required:
        return lambda d: needle in d.joined[slot]
    return lambda d: required <= d.sets[set_slot] and needle in d.joined[slot]


def _range(node: Range) -> Matcher:
    value_of = attrgetter(node.field)  # Document's upvotes, authors or published
    low = node.low if node.low is not None else -(2**62)
    high = node.high if node.high is not None else 2**62

    def in_range(d: Document) -> bool:
        value = value_of(d)
        return value is not None and low <= value <= high

    return in_range


def _all(parts: list[Matcher]) -> Matcher:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda d: first(d) and second(d)
    if len(parts) == 3:
        first, second, third = parts
        return lambda d: first(d) and second(d) and third(d)

    def every(d: Document) -> bool:
        # A plain loop: all() over a generator costs twice as much, per query, per paper.
        for part in parts:  # noqa: SIM110
            if not part(d):
                return False
        return True

    return every


def _any(parts: list[Matcher]) -> Matcher:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda d: first(d) or second(d)
    if len(parts) == 3:
        first, second, third = parts
        return lambda d: first(d) or second(d) or third(d)

    def some(d: Document) -> bool:
        for part in parts:  # noqa: SIM110 (as in _all)
            if part(d):
                return True
        return False

    return some


def _cost(node: Node) -> int:
    """Rough evaluation cost, to test set lookups before substring scans before regexes."""
    if isinstance(node, Regex):
        return 3
    if isinstance(node, Prefix | Phrase):
        return 1
    if isinstance(node, And | Or | Not):
        return 2
    return 0


def needle_of(node: Word | Prefix | Phrase) -> str:
    """What ``Document.joined`` contains exactly when ``node`` matches."""
    if isinstance(node, Word):
        return f" {node.word} "
    if isinstance(node, Prefix):
        return " " + node.prefix
    return " " + " ".join(node.words) + ("" if node.prefix_last else " ")


@lru_cache(maxsize=4096)
def compiled(pattern: str) -> re2._Regexp:
    """The RE2 program for ``pattern``, shared by the queries that use it. Raises ``re2.error``
    for an invalid pattern (without RE2's own line on stderr: the user's error is reported)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)
