"""Synthetic dumps in the Daily Papers text format, made from the real example entries."""

from __future__ import annotations

import itertools
from pathlib import Path

HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"


def entry(title: str, abstract: str, *, authors: int = 3, date: str = "Jul 11, 2024 2") -> str:
    return f"{title}\n\n{abstract}\n\n  • {authors} authors\n·\n{date}\n\n"


def synthetic_dump(
    count: int, *, prefix: str, abstract_chars: int = 300, page: str = "Oct 28"
) -> str:
    """``count`` entries with unique titles ``<prefix> <n>``; the bodies vary a little."""
    abstracts = [
        "We study " + " ".join(itertools.islice(itertools.cycle(["learning", "models", "data"]), n))
        for n in range(5, 15)
    ]
    parts = [HEADER, f"byAK and the research community\n\n{page}\n\n"]
    for n in range(count):
        body = (abstracts[n % len(abstracts)] + " code at https://github.com/x/y.")[:abstract_chars]
        parts.append(entry(f"{prefix} {n}", body, authors=1 + n % 9))
    return "".join(parts)


def write_dump(path: Path, count: int, *, prefix: str) -> Path:
    path.write_text(synthetic_dump(count, prefix=prefix), encoding="utf-8")
    return path
