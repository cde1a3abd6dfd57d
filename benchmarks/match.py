"""Matching throughput: the percolator against the naive loop over every subscription.

    python benchmarks/match.py [--subscriptions 10000] [--papers 10000] [--naive-papers 300]

Generates (seeded) N subscriptions from the vocabulary of ../shared/dumps (2-4 terms, phrases,
NOT, fields, prefixes, some numeric filters, a few regexes and has:) and M papers made from the
real entries with variations (titles and abstracts spliced from several entries, random upvotes,
dates and author counts). Prints the index build time, papers/s through ``analyze`` + the
percolator, the mean number of candidate queries per paper, and papers/s of the naive loop
(every query evaluated on every paper; measured on a subset of the papers, it is slow).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedd.match import (  # noqa: E402
    MatchResult,
    Percolator,
    Query,
    analyze,
    compile_query,
    document_frequencies,
    words,
)
from feedd.match.anchors import STOP_WORDS  # noqa: E402
from feedd.parse import PaperRecord, parse_bytes  # noqa: E402

DUMPS = REPO.parent / "shared" / "dumps"
REFERENCE = date(2026, 11, 22)
T = TypeVar("T")


def real_papers() -> list[PaperRecord]:
    papers: dict[str, PaperRecord] = {}
    for dump in sorted(DUMPS.glob("*.txt")):
        _, records, _ = parse_bytes(dump.read_bytes(), reference_date=REFERENCE)
        for record in records:
            papers.setdefault(record.key, record)
    return list(papers.values())


def make_papers(base: list[PaperRecord], count: int, rng: random.Random) -> list[PaperRecord]:
    """Papers like the real ones: each title and abstract spliced from two or three entries."""
    sentences = [s for p in base for s in p.abstract.split(". ") if s]
    papers = []
    for n in range(count):
        first, second = rng.sample(base, 2)
        title_words = first.title.split()
        cut = rng.randrange(1, max(2, len(title_words)))
        title = " ".join(title_words[:cut] + second.title.split()[cut:]) + f" {n}"
        abstract = ". ".join(rng.sample(sentences, rng.randint(6, 12)))
        papers.append(
            replace(
                first,
                key=f"synthetic {n}",
                title=title,
                abstract=abstract,
                upvotes=rng.choice([None, 0, 0, 0, 1, 2, 3, 5, 8, 13, 40]),
                authors_count=rng.choice([None, 1, 2, 3, 4, 6, 9, 15]),
                published=REFERENCE - timedelta(days=rng.randrange(3000)),
                code_urls=second.code_urls,
            )
        )
    return papers


class QueryMaker:
    """Subscriptions as people write them, from the words and word pairs of the corpus."""

    def __init__(
        self, papers: list[PaperRecord], rng: random.Random, *, broad: float, weighting: float
    ) -> None:
        self.rng, self.broad_share = rng, broad
        docs = [analyze(p) for p in papers]
        freq = document_frequencies(docs)
        content = [w for w in freq if len(w) >= 4 and w not in STOP_WORDS and not w.isdigit()]
        # Topic words: seen in at least two papers, in at most 5% of them ("models",
        # "language" or "learning" alone would make a subscription that matches everything).
        self.topics = [w for w in content if 2 <= freq[w] <= 0.05 * len(docs)]
        self.weights = [freq[w] ** weighting for w in self.topics]
        self.broad = [w for w in content if freq[w] > 0.05 * len(docs)]
        self.pairs = [
            (a, b)
            for p in papers
            for a, b in zip(words(p.abstract), words(p.abstract)[1:], strict=False)
            if a in freq and len(a) >= 4 and len(b) >= 4
        ]
        self.title_starts = sorted(
            {p.title.split()[0] for p in papers if p.title.split()[0].isalnum()}
        )

    def word(self) -> str:
        if self.rng.random() < self.broad_share:  # a broad word now and then
            return self.rng.choice(self.broad)
        return self.rng.choices(self.topics, self.weights)[0]

    def make(self) -> str:
        roll, w = self.rng.random(), self.word
        extra = " ".join(w() for _ in range(self.rng.randint(1, 3)))
        forms: list[tuple[float, Callable[[], str]]] = [
            (0.40, lambda: extra + " " + w()),
            (0.55, lambda: '"{} {}" {}'.format(*self.rng.choice(self.pairs), w())),
            (0.65, lambda: f"({w()} OR {w()} OR {w()}) {w()}"),
            (0.75, lambda: f"{extra} -{w()}"),
            (0.83, lambda: f"title:{w()} {w()}"),
            (0.88, lambda: f"{w()[:5]}* {w()}"),
            (0.93, lambda: f"{extra} upvotes:>={self.rng.randint(1, 10)} published:>=2024-01"),
            (0.96, lambda: f"has:code {w()}"),
            (0.99, lambda: f"title:/^{self.rng.choice(self.title_starts)}/ {w()}"),
            (0.995, lambda: f"title:/(?i){w()}/"),
            (0.9995, lambda: f"published:>=2026-01 upvotes:>={self.rng.randint(5, 20)}"),
            (1.00, lambda: f"NOT {w()}"),
        ]
        return next(make for limit, make in forms if roll < limit)()


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def percolate(percolator: Percolator[int], papers: list[PaperRecord]) -> int:
    """What the daemon does with each new paper: analyse it, then match it."""
    return sum(len(percolator.match(analyze(paper))) for paper in papers)


def naive(queries: dict[int, Query], papers: list[PaperRecord]) -> list[dict[int, MatchResult]]:
    """The same work without the index: every query evaluated on every paper."""
    found = []
    for paper in papers:
        doc = analyze(paper)
        matched = {}
        for key, query in queries.items():
            if query.matches(doc) and (result := query.explain(doc)) is not None:
                matched[key] = result
        found.append(matched)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=10_000)
    parser.add_argument("--naive-papers", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the percolator; best kept")
    parser.add_argument("--broad", type=float, default=0.1, help="share of broad query words")
    parser.add_argument(
        "--weighting",
        type=float,
        default=0.5,
        help="topic words drawn with probability ~ document frequency ** this (0: uniformly)",
    )
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    base = real_papers()
    maker = QueryMaker(base, rng, broad=args.broad, weighting=args.weighting)
    texts = [maker.make() for _ in range(args.subscriptions)]
    queries, compile_s = timed(lambda: {i: compile_query(t) for i, t in enumerate(texts)})
    papers = make_papers(base, args.papers, rng)
    freq = document_frequencies(analyze(p) for p in base)
    percolator, build_s = timed(lambda: Percolator(queries, doc_freq=freq))
    # Nothing keeps the analysed papers: a daemon does not, and 10,000 of them held in memory
    # would slow everything down through the CPU caches.
    _, analyze_s = timed(lambda: sum(len(analyze(p).all_words) for p in papers))
    # The best of three runs: this is a shared machine, and the others are its noise.
    runs = [timed(lambda: percolate(percolator, papers)) for _ in range(args.repeat)]
    matched, match_s = min(runs, key=lambda run: run[1])
    candidates = sum(len(percolator.candidates(analyze(p))) for p in papers)
    subset = papers[: args.naive_papers]
    expected, naive_s = timed(lambda: naive(queries, subset))
    mismatches = sum(
        percolator.match(analyze(p)) != e for p, e in zip(subset, expected, strict=True)
    )

    always = sum(1 for q in queries.values() if "every paper" in percolator.anchors(q))
    per_paper = match_s / len(papers)
    print(f"subscriptions               {len(queries):>10,}  ({always} checked for every paper)")
    print(f"papers                      {len(papers):>10,}")
    print(f"compile queries             {compile_s:>10.2f} s")
    print(f"index build                 {build_s:>10.3f} s")
    print(f"analyze alone               {len(papers) / analyze_s:>10,.0f} papers/s")
    print(f"analyze + percolator        {1 / per_paper:>10,.0f} papers/s")
    print(f"mean candidates per paper   {candidates / len(papers):>10.1f}")
    print(f"mean matches per paper      {matched / len(papers):>10.1f}")
    naive_rate = len(subset) / naive_s
    print(f"naive loop                  {naive_rate:>10,.1f} papers/s  (on {len(subset)} papers)")
    print(f"speed-up                    {1 / per_paper / naive_rate:>10.1f} x")
    if mismatches:
        raise SystemExit(
            f"MISMATCH: the percolator and the naive loop differ on {mismatches} papers"
        )
    print(f"checked                     percolator == naive loop on those {len(subset)} papers")


if __name__ == "__main__":
    main()
