"""Anchors: what every paper a query matches must contain, so the percolator can skip the rest.

An *option* of a query is a set of anchors such that every paper the query matches hits at
least one anchor of the set. A query has several options (each AND child brings its own); the
percolator indexes it under its cheapest option and filters the candidates with its second.

- a word: itself (a word of the title, organisation or author field: itself in that field;
  of the abstract: itself anywhere); a prefix ``distill*``: the prefix, in any field; a regex:
  itself (the percolator runs all the regexes of a field as one RE2 set, in one pass);
- a phrase: one option per word (the last one a prefix for ``gpt-4*``);
- AND: the options of all its children (every child must hold);
- OR: one option, the union of each child's cheapest, and none if some child has none;
- a number, date or ``has:`` filter: itself, as a *filter* anchor (a predicate the percolator
  evaluates once per paper for all the queries that share it); NOT: none.

An option's cost is the expected number of papers that hit it: from document frequencies when
given, else a guess (a longer word is rarer, a prefix commoner than a word, a stop word the
commonest; a filter or regex may match a large share of papers).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from itertools import accumulate
from typing import NamedTuple

from feedd.match.nodes import (
    AUTHOR,
    ORG,
    TITLE,
    And,
    Has,
    Leaf,
    Node,
    Or,
    Phrase,
    Prefix,
    Range,
    Regex,
    Word,
    whole_words,
)

ANY = "any"  # an anchor word found in any field of the paper

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "such",
        "that",
        "the",
        "their",
        "these",
        "this",
        "to",
        "via",
        "we",
        "which",
        "with",
    ]
)


class Anchor(NamedTuple):
    kind: str  # "word", "prefix", "regex" or "filter"
    text: str  # the folded word or prefix, the pattern, or the filter in query syntax
    field: str = ANY  # the field a word or regex is looked for in
    node: Leaf | None = None  # for a filter: the leaf to evaluate

    def __str__(self) -> str:
        if self.kind == "regex":
            return str(Regex(self.field, self.text))
        if self.kind == "word" and self.field != ANY:
            return f"{self.field}:{self.text}"
        return self.text + ("*" if self.kind == "prefix" else "")


# A title word is in a tenth of the papers that have it anywhere, roughly; so is an org or
# author word (the frequencies count a word once per paper, whatever its field).
_FIELD_SHARE = {ANY: 1.0, TITLE: 0.1, ORG: 0.1, AUTHOR: 0.1}


Option = tuple[frozenset[Anchor], float]  # anchors, cost


class Costs:
    """The expected number of papers hitting an anchor, and the options of a query."""

    def __init__(self, doc_freq: Mapping[str, int] | None) -> None:
        self._freq = doc_freq
        self._vocabulary = sorted(doc_freq or ())
        self._running = [0, *accumulate((doc_freq or {})[w] for w in self._vocabulary)]
        # Guesses: a regex may match a fifth of the papers, a filter half of them.
        most = max(doc_freq.values(), default=0) if doc_freq is not None else 0
        self._regex = 0.2 * most if doc_freq is not None else 500.0
        self._filter = 0.5 * most if doc_freq is not None else 1500.0

    def cost(self, anchor: Anchor) -> float:
        if anchor.kind in ("regex", "filter"):
            return self._regex if anchor.kind == "regex" else self._filter
        guess = _guess(anchor)
        if self._freq is None:
            return guess
        if anchor.kind == "word":
            found = self._freq.get(anchor.text, 0) * _FIELD_SHARE[anchor.field]
            return found + guess / 1000  # the guess only breaks ties
        low = bisect_left(self._vocabulary, anchor.text)
        high = bisect_left(self._vocabulary, anchor.text + "\U0010ffff")
        return self._running[high] - self._running[low] + guess / 1000

    def options(self, node: Node) -> list[Option]:
        """The options of ``node``, cheapest first."""
        if isinstance(node, Word | Prefix | Regex | Range | Has):
            return [self._one(_anchor(node))]
        if isinstance(node, Phrase):
            items = [Anchor("word", w, _word_field(node.field)) for w in node.words]
            if node.prefix_last:  # its last word is only a prefix; the others are whole
                items[-1] = Anchor("prefix", node.words[-1])
            return sorted({self._one(a) for a in items}, key=_by_cost)
        if isinstance(node, And):
            every = {option for child in node.children for option in self.options(child)}
            return sorted(every, key=_by_cost)
        if isinstance(node, Or):
            union = self._union(node)
            return [union] if union else []
        return []  # NOT

    def _one(self, anchor: Anchor) -> Option:
        return frozenset({anchor}), self.cost(anchor)

    def _union(self, node: Or) -> Option | None:
        union: set[Anchor] = set()
        for child in node.children:
            options = self.options(child)
            if not options:
                return None
            union |= options[0][0]
        return frozenset(union), sum(self.cost(a) for a in union)


def _anchor(node: Word | Prefix | Regex | Range | Has) -> Anchor:
    if isinstance(node, Word):
        return Anchor("word", node.word, _word_field(node.field))
    if isinstance(node, Prefix):
        return Anchor("prefix", node.prefix)
    if isinstance(node, Regex):
        return Anchor("regex", node.pattern, node.field)
    return Anchor("filter", str(node), node=node)


def _word_field(field: str) -> str:
    # The abstract has no word set of its own; its words are looked for anywhere.
    return field if field in _FIELD_SHARE else ANY


def _guess(anchor: Anchor) -> float:
    if anchor.kind == "prefix":
        return 3.0 / len(anchor.text)
    share = _FIELD_SHARE[anchor.field]
    return share * (1000.0 if anchor.text in STOP_WORDS else 1.0 / len(anchor.text))


def _by_cost(option: Option) -> tuple[float, list[str]]:
    return option[1], sorted(str(a) for a in option[0])  # ties broken by name: a stable index


def required_words(node: Node) -> frozenset[str]:
    """Whole words every match of ``node`` contains (in some field: a superset is fine)."""
    if isinstance(node, Word | Phrase):
        return frozenset(whole_words(node))
    if isinstance(node, And):
        return frozenset().union(*(required_words(c) for c in node.children))
    if isinstance(node, Or):
        return frozenset.intersection(*(required_words(c) for c in node.children))
    return frozenset()
