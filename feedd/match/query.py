"""``compile_query``: query text in, an immutable, hashable ``Query`` out (or ``QueryError``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from feedd.match import nodes
from feedd.match.build import build
from feedd.match.evaluate import Document, Matcher, matcher
from feedd.match.explain import Collector, MatchResult, collector, explain
from feedd.match.grammar import parse


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed and validated query. Two queries are equal when their trees are ("a b" and
    "a AND b"); the compiled match function is built once and kept out of comparisons."""

    text: str = field(compare=False)
    root: nodes.Node
    # Compiled once from root: the fast test, and the slower one that also says what matched.
    matcher: Matcher = field(compare=False, repr=False)
    collector: Collector = field(compare=False, repr=False)

    def matches(self, doc: Document) -> bool:
        return self.matcher(doc)

    def explain(self, doc: Document) -> MatchResult | None:
        """What matched, per field, or ``None`` when ``doc`` does not match."""
        return explain(self.collector, doc)

    def describe(self) -> str:
        """The parsed tree, one node a line, for ``feedd subs explain``."""
        return nodes.describe(self.root)

    def __str__(self) -> str:
        """The normal form: fully analysed, parses back to an equal query."""
        return str(self.root)


def compile_query(text: str) -> Query:
    """Parse and validate ``text``; raises ``QueryError`` with a position when it cannot."""
    return from_node(build(text, parse(text)), text)


def from_node(root: nodes.Node, text: str | None = None) -> Query:
    """A query for an already built tree (tests and generators build trees directly)."""
    return Query(str(root) if text is None else text, root, matcher(root), collector(root))
