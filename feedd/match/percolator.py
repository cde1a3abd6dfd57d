"""The percolator: queries indexed by what every match must contain, so that a paper is checked
only against the queries that could match it, not against all of them.

Each query is filed under the anchors of its cheapest option (see ``feedd.match.anchors``), and
within each under the anchors of its second cheapest option: a paper wakes a query only if it
hits both. Queries without an option (``NOT x`` alone) are checked for every paper. Candidates
are then evaluated in full, so ``match`` returns exactly what evaluating every query on every
paper would.

Per paper that costs a set intersection per word field, one RE2-set pass over the joined words
for all the prefixes, one per field for all the regexes, and one evaluation per distinct filter
(``upvotes:>=10``): nothing that grows with the number of subscriptions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from itertools import chain, compress
from typing import Generic, TypeVar

import re2  # type: ignore[import-untyped]

from feedd.match.anchors import ANY, Anchor, Costs, required_words
from feedd.match.evaluate import SET_SLOT, SLOT, Document, Matcher, matcher
from feedd.match.explain import MatchResult, explain
from feedd.match.nodes import TEXT
from feedd.match.patterns import PatternSet
from feedd.match.query import Query

K = TypeVar("K", bound=Hashable)
_WORD_SLOTS = {ANY: -1, **{f: SET_SLOT[f] for f in SET_SLOT if f != TEXT}}


def document_frequencies(docs: Iterable[Document]) -> dict[str, int]:
    """How many of ``docs`` contain each word (in any field): the ``doc_freq`` of a percolator."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(doc.all_words)
    return dict(counts)


class Percolator(Generic[K]):
    """Many queries, indexed by their anchors; ``match`` a document against all of them.

    ``queries`` maps a key (a subscription's id or name) to its compiled query; ``doc_freq``
    (word -> number of papers containing it, see ``document_frequencies``) makes the choice of
    anchors better informed. The index is built once; rebuild it when subscriptions change
    (10,000 queries take well under a second).
    """

    def __init__(self, queries: Mapping[K, Query], *, doc_freq: Mapping[str, int] | None = None):
        self._costs = Costs(doc_freq)
        self._keys: list[K] = list(queries)
        self._queries: list[Query] = [queries[k] for k in self._keys]
        self._required = [required_words(q.root) for q in self._queries]
        self._collectors = [q.collector for q in self._queries]
        self._always: list[int] = []
        words: dict[int, _Table] = {}  # word slot (-1: any field) -> word -> entries
        other: _Table = {}  # the prefix, regex and filter anchors, by token
        detected: set[Anchor] = set()  # every non-word anchor a paper must be checked for
        for i, query in enumerate(self._queries):
            options = self._costs.options(query.root)
            if not options:
                self._always.append(i)
                continue
            second = options[1][0] if len(options) > 1 else frozenset()
            detected.update(a for a in options[0][0] | second if a.kind != "word")
            for anchor in options[0][0]:
                if anchor.kind == "word":
                    table = words.setdefault(_WORD_SLOTS[anchor.field], {})
                    entries = table.setdefault(anchor.text, [])
                else:
                    entries = other.setdefault(token(anchor), [])
                # Without a second option, the anchor itself: the paper has it, it woke us.
                entries.extend((token(a), i) for a in second or (anchor,))
        self._words = {slot: _Index(table) for slot, table in words.items()}
        self._other = _Index(other)
        self._detector = _Detector(detected)

    def __len__(self) -> int:
        return len(self._keys)

    def candidates(self, doc: Document) -> set[K]:
        """The keys of the queries that could match ``doc`` (a superset of those that do)."""
        keys = self._keys
        return {keys[i] for i in self._candidate_ids(doc)}

    def match(self, doc: Document) -> dict[K, MatchResult]:
        """The queries that match ``doc``, each with what matched, in the order given."""
        matched: dict[K, MatchResult] = {}
        present, required, collectors = doc.all_words, self._required, self._collectors
        for i in sorted(self._candidate_ids(doc)):
            # A subset test in C rules out a few more. Most of the rest match (the second
            # option filtered them), so the collector decides alone: no separate matcher run.
            if required[i] <= present and (result := explain(collectors[i], doc)) is not None:
                matched[self._keys[i]] = result
        return matched

    def anchors(self, query: Query) -> str:
        """How the index finds ``query``, for ``feedd subs explain``: "indexed under: lora,
        qwen* (then needs: survey)", or "checked for every paper (...)"."""
        options = self._costs.options(query.root)
        if not options:
            return "checked for every paper (it requires no particular word)"
        shown = [", ".join(sorted(str(a) for a in option)) for option, _ in options[:2]]
        return f"indexed under: {shown[0]}" + (f" (then needs: {shown[1]})" if shown[1:] else "")

    def _candidate_ids(self, doc: Document) -> set[int]:
        ids = set(self._always)
        present = doc.all_words
        found = self._detector.detect(doc)
        tokens = present.union(found) if found else present
        for slot, index in self._words.items():
            index.take(present if slot < 0 else doc.sets[slot], tokens, ids)
        self._other.take(found, tokens, ids)
        return ids


def token(anchor: Anchor) -> str:
    """What a paper that hits ``anchor`` "has": a word (of the second option: in any field, a
    superset), or for other anchors a string no word can be (it has spaces): Python caches a
    string's hash, not a tuple's, and these are hashed for every paper."""
    return anchor.text if anchor.kind == "word" else f" {anchor.kind} {anchor.field} {anchor.text}"


_Table = dict[str, list[tuple[str, int]]]  # first anchor -> (second option's token, query id)


class _Index:
    """Query ids by a first-option anchor, each guarded by a token of its second option.

    Stored as two parallel tuples per anchor so that a paper's whole lookup runs in C: chain
    the entries of every anchor the paper hits, keep the ids whose token it has.
    """

    def __init__(self, table: _Table) -> None:
        self._tokens = {key: tuple(t for t, _ in entries) for key, entries in table.items()}
        self._ids = {key: tuple(i for _, i in entries) for key, entries in table.items()}

    def take(self, hit: Iterable[str], tokens: frozenset[str], ids: set[int]) -> None:
        keys = self._tokens.keys() & hit  # walks the paper's words, not the whole table
        if keys:
            guards = chain.from_iterable(map(self._tokens.__getitem__, keys))
            owners = chain.from_iterable(map(self._ids.__getitem__, keys))  # same order
            ids.update(compress(owners, map(tokens.__contains__, guards)))


class _Detector:
    """Finds which prefix, regex and filter anchors a paper hits: one RE2-set pass for all the
    prefixes, one per field for the regexes, one evaluation per distinct filter."""

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        by_kind: dict[tuple[str, str], list[Anchor]] = {}
        for anchor in sorted(anchors):
            by_kind.setdefault((anchor.kind, anchor.field), []).append(anchor)
        self._filters: list[tuple[Matcher, str]] = [
            (matcher(a.node), token(a)) for a in by_kind.pop(("filter", ANY), []) if a.node
        ]
        prefixes = by_kind.pop(("prefix", ANY), [])
        # A prefix is where the joined words have " " + prefix, as the matcher looks for it.
        self._prefixes = (
            PatternSet([" " + re2.escape(a.text) for a in prefixes]),
            [token(a) for a in prefixes],
        )
        self._regexes = [
            (SLOT[field], PatternSet([a.text for a in found]), [token(a) for a in found])
            for (_, field), found in by_kind.items()
        ]

    def detect(self, doc: Document) -> list[str]:
        """The tokens of the anchors ``doc`` hits."""
        found = [anchor for check, anchor in self._filters if check(doc)]
        patterns, prefixes = self._prefixes
        if patterns:
            joined = doc.joined
            found.extend(prefixes[i] for i in patterns.search(joined[0] + joined[3] + joined[4]))
        for slot, patterns, regexes in self._regexes:
            for text in doc.raw[slot]:
                found.extend(regexes[i] for i in patterns.search(text))
        return found
