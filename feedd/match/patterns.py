"""Many RE2 patterns searched in one linear pass (``RE2::Set``), for the percolator.

RE2::Set reports "no match" when its DFA runs out of memory, which would silently drop matches.
So every set holds a canary, the empty pattern, which matches every text: a result without it
means RE2 gave up, and that chunk is searched pattern by pattern instead. Patterns go in chunks
of a few hundred to keep each DFA small and that fallback rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]

from feedd.match.evaluate import compiled

CHUNK = 256
_MEMORY = 64 << 20  # bytes per set; RE2's default (8 MB) is meant for one pattern


class PatternSet:
    """Which of ``patterns`` (RE2 syntax, already validated) occur somewhere in a text."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._chunks: list[tuple[int, Any]] = []
        for start in range(0, len(self.patterns), CHUNK):
            options = re2.Options()
            options.log_errors = False
            options.max_mem = _MEMORY
            chunk = re2.Set.SearchSet(options)
            chunk.Add("")  # the canary
            for pattern in self.patterns[start : start + CHUNK]:
                chunk.Add(pattern)
            chunk.Compile()
            self._chunks.append((start, chunk))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def search(self, text: str) -> list[int]:
        """The indices of the patterns found in ``text``."""
        encoded = text.encode()  # once, not once per chunk
        found: list[int] = []
        for start, chunk in self._chunks:
            hits = chunk.Match(encoded)
            if hits and 0 in hits:
                found.extend(start + hit - 1 for hit in hits if hit)
            else:
                found.extend(self._one_by_one(start, text))
        return found

    def _one_by_one(self, start: int, text: str) -> list[int]:
        end = min(start + CHUNK, len(self.patterns))
        return [i for i in range(start, end) if compiled(self.patterns[i]).search(text)]
