"""Matching: the query language, compiled queries, and the percolator that indexes them.

Pure: plain data in and out, no database, no settings.

    query = compile_query('title:"knowledge distillation" OR distill* -survey')
    doc = analyze(paper)                 # once per paper, reused for every query
    query.matches(doc)                   # -> bool
    query.explain(doc)                   # -> MatchResult(hits=(("title", "distillation"),))
    Percolator({"kd": query, ...}).match(doc)   # -> {"kd": MatchResult(...)}, only matches
    query.describe(), str(query)         # the parsed tree; the normal form

The query language (SPEC §3), with the decisions a user must know:

- Words match whole words, case- and accent-insensitive, in title or abstract; what a word is
  is decided in ``analysis`` ("in-context" is the phrase "in context", "GPT-4o" is "gpt 4o").
- ``distill*``: a word starting with "distill". A wildcard only at the end of a word; a bare
  ``*`` or a leading wildcard is an error. ``gpt-4*`` is "gpt" followed by a word starting "4".
  Inside quotes ``*`` is punctuation.
- ``"knowledge distillation"``: the words in order, adjacent, across punctuation.
- Fields: ``title:`` ``abstract:`` ``org:`` (the organisation) ``author:`` (author names only;
  a paper with an organisation but no names never matches ``author:``). Field names are
  case-insensitive. ``title:(a OR b)`` applies the field to every term inside; a field written
  inside the group wins.
- ``a b`` = ``a AND b``; ``AND``, ``OR``, ``NOT`` are operators only in upper case; ``-a`` is
  ``NOT a``, ``+a`` is ``a``; precedence NOT > AND > OR, so ``a OR b c`` is ``a OR (b AND c)``
  and ``NOT a b`` is ``(NOT a) AND b``. A query of only ``NOT x`` matches every paper without x.
- ``upvotes:``, ``authors:`` (the number of authors; the count of names when only names are
  known) and ``published:`` take ``5``, ``>5``, ``>=5``, ``<5``, ``<=5``, ``=5`` and ranges
  ``[1 TO 5]`` (inclusive), ``{1 TO 5}`` (exclusive), mixed ``[1 TO 5}`` and ``*`` for an open
  end. Dates are ``2024-01-31``, ``2024-01`` or ``2024``; a month or year stands for all its days
  (``published:2024-03`` is March 2024, ``published:>2024`` is from 2025-01-01,
  ``published:[2024-01 TO 2024-06]`` is 2024-01-01 to 2024-06-30, ``{2024-01 TO 2024-06}``
  leaves both months out). A paper without a value never matches a comparison on it. An empty
  range is an error. The normal form writes every comparison as a closed range of whole
  numbers or days: ``upvotes:>5`` is shown as ``upvotes:>=6``.
- ``has:code`` (a link to a code host found in the abstract), ``has:arxiv`` (a known arXiv id),
  ``has:authors`` (known author names), ``has:org`` (an organisation).
- ``title:/^LLM/``: an RE2 regular expression (linear time, at most 200 characters), searched
  (not anchored; use ``^``/``$``) in the ORIGINAL text of the field, case-sensitively unless the
  pattern starts with ``(?i)``. ``author:/…/`` is tried on each name separately; a bare
  ``/…/`` searches title and abstract. Write ``/`` inside the pattern as ``\\/``.
- A word with ``:`` that is not a field name is an "unknown field" error: quote text with a
  colon (``"https://github.com"``). ``~`` and ``^`` (fuzzy, proximity, boost) are not supported.
- A query has at most 2,000 characters and 100 levels of nesting.

Errors are ``QueryError`` (``query``, 0-based ``position``, ``expected``, ``one_line()``,
``caret()``). Module map: ``analysis`` (what a word is), ``grammar`` (lark grammar, error
messages), ``build`` (tree to nodes, value checks), ``nodes`` (the tree, normal form,
``describe``), ``evaluate`` (``Document``, matchers), ``explain`` (matched words), ``anchors``
and ``percolator`` (the index), ``patterns`` (RE2 sets).
"""

from feedd.match.analysis import fold, words
from feedd.match.errors import QueryError
from feedd.match.evaluate import Document, PaperLike, analyze
from feedd.match.explain import MatchResult
from feedd.match.percolator import Percolator, document_frequencies
from feedd.match.query import Query, compile_query

__all__ = [
    "Document",
    "MatchResult",
    "PaperLike",
    "Percolator",
    "Query",
    "QueryError",
    "analyze",
    "compile_query",
    "document_frequencies",
    "fold",
    "words",
]
