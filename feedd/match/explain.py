"""Which words made a paper match: ``collector(node)`` compiles a function that collects them.

A default-field term is reported under the field it was found in (``title`` and/or
``abstract``); a prefix under the whole words it matched; a regex under the original text it
matched. Terms under a NOT, and filters (numbers, dates, ``has:``) contribute no words.

Collectors are compiled like matchers (``evaluate.matcher``), because the percolator explains
every match it reports: tens per paper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple, TypeGuard

from feedd.match.evaluate import SET_SLOT, SLOT, Document, compiled, matcher, needle_of
from feedd.match.nodes import (
    ABSTRACT,
    TEXT,
    TITLE,
    And,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Regex,
    Word,
)

Hits = list[tuple[str, str]]  # (field, matched word or phrase)
Collector = Callable[[Document, Hits], bool]


class MatchResult(NamedTuple):
    """Why a paper matched: the (field, term) pairs that made it match, sorted; a term is a
    folded word or phrase, or for a regex the original text it matched. A match on filters
    alone (``upvotes:>5``) has none. Plain, hashable data; ``terms`` groups it by field."""

    hits: tuple[tuple[str, str], ...] = ()

    @property
    def terms(self) -> dict[str, tuple[str, ...]]:
        """The matched terms per field: ``{"title": ("distillation",), ...}``."""
        grouped: dict[str, list[str]] = {}
        for name, term in self.hits:
            grouped.setdefault(name, []).append(term)
        return {name: tuple(found) for name, found in grouped.items()}

    @property
    def words(self) -> tuple[str, ...]:
        """Every matched word or phrase, whatever the field, sorted."""
        return tuple(sorted({term for _, term in self.hits}))


def explain(collect: Collector, doc: Document) -> MatchResult | None:
    """Run a compiled collector: what matched, or ``None`` when ``doc`` does not match."""
    hits: Hits = []
    if not collect(doc, hits):
        return None
    return MatchResult(tuple(sorted(set(hits))) if len(hits) > 1 else tuple(hits))


def collector(node: Node) -> Collector:
    """A function that tells whether ``doc`` matches ``node`` and appends what matched."""
    if isinstance(node, Or):
        return _some([collector(c) for c in node.children])
    if isinstance(node, And):
        return _every(node)
    if isinstance(node, Word) and node.field in SET_SLOT:
        return _word(node)
    if isinstance(node, Word | Prefix | Phrase):
        return _scan(node)
    if isinstance(node, Regex):
        return _regex(node)
    check = matcher(node)  # NOT, numbers, dates, has:: no words to show
    return lambda d, hits: check(d)


def _every(node: And) -> Collector:
    # Default-field words and NOTs of them, the bulk of most queries, are one part: two set
    # operations decide, and only the words that matched are then placed in title or abstract.
    words: list[str] = []
    unwanted: list[str] = []
    rest: list[Collector] = []
    for child in node.children:
        if _is_text_word(child):
            words.append(child.word)
        elif isinstance(child, Not) and _is_text_word(child.child):
            unwanted.append(child.child.word)
        else:
            rest.append(collector(child))
    parts = ([_text_words(tuple(words), frozenset(unwanted))] if words or unwanted else []) + rest
    if len(parts) == 1:
        return parts[0]

    def every(d: Document, hits: Hits) -> bool:
        mark = len(hits)
        for part in parts:
            if not part(d, hits):
                del hits[mark:]  # under an OR, a failed AND shows nothing
                return False
        return True

    return every


def _some(parts: list[Collector]) -> Collector:
    def some(d: Document, hits: Hits) -> bool:
        found = False
        for part in parts:  # no short cut: every branch that matched is shown
            found = part(d, hits) or found
        return found

    return some


def _is_text_word(node: Node) -> TypeGuard[Word]:
    return isinstance(node, Word) and node.field == TEXT


def _text_words(words: tuple[str, ...], unwanted: frozenset[str]) -> Collector:
    wanted = frozenset(words)
    needles = [(w, f" {w} ") for w in words]

    def text_words(d: Document, hits: Hits) -> bool:
        text = d.sets[0]
        if not wanted <= text or not unwanted.isdisjoint(text):
            return False
        title, abstract = d.sets[1], d.joined[2]
        for word, needle in needles:
            if word not in title:  # then in the abstract: no scan needed
                hits.append((ABSTRACT, word))
            else:
                hits.append((TITLE, word))
                if needle in abstract:
                    hits.append((ABSTRACT, word))
        return True

    return text_words


def _word(node: Word) -> Collector:
    slot, word = SET_SLOT[node.field], node.word
    if node.field != TEXT:
        where = node.field

        def one_field(d: Document, hits: Hits) -> bool:
            if word in d.sets[slot]:
                hits.append((where, word))
                return True
            return False

        return one_field
    needle = needle_of(node)

    def title_or_abstract(d: Document, hits: Hits) -> bool:
        if word not in d.sets[0]:
            return False
        if word not in d.sets[1]:  # not in the title, so in the abstract: no scan needed
            hits.append((ABSTRACT, word))
            return True
        hits.append((TITLE, word))
        if needle in d.joined[2]:
            hits.append((ABSTRACT, word))
        return True

    return title_or_abstract


def _scan(node: Word | Prefix | Phrase) -> Collector:
    check, needle = matcher(node), needle_of(node)
    fields = (TITLE, ABSTRACT) if node.field == TEXT else (node.field,)
    slots = [(name, SLOT[name]) for name in fields]
    whole = isinstance(node, Word) or (isinstance(node, Phrase) and not node.prefix_last)
    shown = needle.strip()

    def scan(d: Document, hits: Hits) -> bool:
        if not check(d):
            return False
        for name, slot in slots:
            if whole:
                if needle in d.joined[slot]:
                    hits.append((name, shown))
            else:
                found = _completions(needle).findall(d.joined[slot])
                hits.extend((name, m.strip()) for m in found)
        return True

    return scan


@lru_cache(maxsize=4096)
def _completions(needle: str) -> re.Pattern[str]:
    """The whole words that a prefix needle (" distill") stands for in joined words."""
    return re.compile(re.escape(needle) + "[^ ]*")


def _regex(node: Regex) -> Collector:
    search = compiled(node.pattern).search
    fields = (TITLE, ABSTRACT) if node.field == TEXT else (node.field,)
    slots = [(name, SLOT[name]) for name in fields]

    def regex(d: Document, hits: Hits) -> bool:
        found = False
        for name, slot in slots:
            for text in d.raw[slot]:
                if (m := search(text)) is not None:
                    if m.group(0):  # "/^/" matches, but with nothing to show
                        hits.append((name, m.group(0)))
                    found = True
        return found

    return regex
