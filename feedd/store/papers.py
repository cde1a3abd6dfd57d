"""Reading papers back: the CLI's `papers list|show`, the feeds, and the matcher."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from feedd.parse.text import paper_key
from feedd.store.db import storage_errors
from feedd.store.models import dumps, paper_dumps, papers

_COLUMNS = (
    papers.c.id,
    papers.c.key,
    papers.c.title,
    papers.c.abstract,
    papers.c.authors_count,
    papers.c.authors,
    papers.c.organisation,
    papers.c.published,
    papers.c.upvotes,
    papers.c.arxiv_id,
    papers.c.code_urls,
    papers.c.first_seen,
    papers.c.last_seen,
)


@dataclass(frozen=True)
class StoredPaper:
    """A paper as stored (SPEC §2), with the names of the dumps it was seen in, oldest first."""

    id: int
    key: str
    title: str
    abstract: str
    authors_count: int | None
    authors: tuple[str, ...]
    organisation: str | None
    published: date | None
    upvotes: int | None
    arxiv_id: str | None
    code_urls: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    dumps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The SPEC §2 JSON shape (CLI ``--json``, webhooks), plus ``dumps``."""
        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "abstract": self.abstract,
            "authors_count": self.authors_count,
            "authors": list(self.authors),
            "organisation": self.organisation,
            "published": None if self.published is None else self.published.isoformat(),
            "upvotes": self.upvotes,
            "arxiv_id": self.arxiv_id,
            "code_urls": list(self.code_urls),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "dumps": list(self.dumps),
        }


def list_papers(engine: sa.Engine, *, limit: int = 50, offset: int = 0) -> list[StoredPaper]:
    """Newest first: by published date (unknown last), then last seen, then id."""
    with storage_errors(engine), engine.connect() as conn:
        query = sa.select(*_COLUMNS).order_by(*_newest_first(conn)).limit(limit).offset(offset)
        return _with_dumps(conn, conn.execute(query).all())


def get_paper(engine: sa.Engine, ref: str | int) -> StoredPaper | None:
    """A paper by id, by title (any case or punctuation: compared as keys), or by arXiv id."""
    text = str(ref).strip()
    conditions = [papers.c.key == paper_key(text), papers.c.arxiv_id == text]
    if isinstance(ref, int) or text.isdigit():
        # A bare number is an id first; the title "2048" still matches below if no id does.
        conditions.insert(0, papers.c.id == int(text))
    with storage_errors(engine), engine.connect() as conn:
        for condition in conditions:
            row = conn.execute(sa.select(*_COLUMNS).where(condition).limit(1)).first()
            if row is not None:
                return _with_dumps(conn, [row])[0]
    return None


def get_papers(engine: sa.Engine, ids: Sequence[int]) -> list[StoredPaper]:
    """The papers with these ids, in the order given (missing ids are left out)."""
    found: dict[int, StoredPaper] = {}
    with storage_errors(engine), engine.connect() as conn:
        for start in range(0, len(ids), 5000):
            chunk = list(ids[start : start + 5000])
            rows = conn.execute(sa.select(*_COLUMNS).where(papers.c.id.in_(chunk))).all()
            found.update((paper.id, paper) for paper in _with_dumps(conn, rows))
    return [found[i] for i in ids if i in found]


def count_papers(engine: sa.Engine) -> int:
    with storage_errors(engine), engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one())


def _newest_first(conn: sa.Connection) -> list[sa.ColumnElement[object]]:
    published = papers.c.published.desc()
    # SQLite already sorts NULL last in DESC and only uses ix_papers_newest for the plain form.
    if conn.dialect.name != "sqlite":
        published = published.nulls_last()
    return [published, papers.c.last_seen.desc(), papers.c.id.desc()]


def _with_dumps(conn: sa.Connection, rows: Sequence[Any]) -> list[StoredPaper]:
    if not rows:
        return []
    names: defaultdict[int, list[str]] = defaultdict(list)
    query = (
        sa.select(paper_dumps.c.paper_id, dumps.c.name)
        .join(dumps, dumps.c.id == paper_dumps.c.dump_id)
        .where(paper_dumps.c.paper_id.in_([row.id for row in rows]))
        .order_by(paper_dumps.c.paper_id, paper_dumps.c.dump_id)
    )
    for paper_id, name in conn.execute(query):
        names[paper_id].append(name)
    return [StoredPaper(**row._mapping, dumps=tuple(names[row.id])) for row in rows]
