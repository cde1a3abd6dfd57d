"""``QueryError``: a query that cannot be understood, with the position and what was expected."""

from __future__ import annotations

import unicodedata

from feedd.errors import FeeddError


class QueryError(FeeddError):
    """A subscription query that does not parse or names something that does not exist.

    ``position`` is a 0-based index into ``query``; ``expected`` says in plain words what would
    have been understood there; ``reason`` is the whole message (``"expected " + expected``
    unless something more specific was said, such as an unknown field).
    """

    exit_code = 2

    def __init__(self, query: str, position: int, expected: str, reason: str | None = None):
        self.query = query
        self.position = max(0, min(position, len(query)))
        self.expected = expected
        # One line whatever was quoted in it (an RE2 message repeats the pattern, line breaks too).
        self.reason = " ".join((reason or f"expected {expected}").split())
        super().__init__(f"invalid query: {self.one_line()}")

    def one_line(self) -> str:
        """``position 12: expected a term, phrase or '(' after AND``."""
        return f"position {self.position}: {self.reason}"

    def caret(self) -> str:
        """The query, a caret under the position, and the message, for a terminal."""
        # One character for one: line breaks and tabs become spaces so the caret lines up.
        query = "".join(" " if ch.isspace() else ch for ch in self.query)
        column = sum(_width(ch) for ch in query[: self.position])
        return f"{query}\n{' ' * column}^\n{self.one_line()}"


def _width(char: str) -> int:
    """Terminal columns of one character: wide East Asian characters take two, marks none."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
