"""The hot statements of the upsert, written for each database's fastest bulk path.

SQLAlchemy's executemany spends ~30 µs per row in Python (parameter dicts, type processors),
more than the whole budget of a 30,000 papers/s ingest. So the rows are encoded here once, as
tuples, and handed to the driver directly: SQLite's C-level ``executemany``, PostgreSQL's
``COPY`` and ``unnest``-array UPDATEs. The encodings are exactly what the column types in
``models.py`` write and read (the round-trip tests read these rows back through those types).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol, cast

import psycopg
import sqlalchemy as sa

from feedd.store.merge import PaperState

INSERT_COLUMNS = (
    "id",
    "key",
    "title",
    "abstract",
    "authors_count",
    "authors",
    "organisation",
    "published",
    "upvotes",
    "upvotes_as_of",
    "arxiv_id",
    "code_urls",
    "first_seen",
    "last_seen",
)
# What a merge may change; title and first_seen never change.
UPDATE_COLUMNS = (
    "abstract",
    "authors_count",
    "authors",
    "organisation",
    "published",
    "upvotes",
    "upvotes_as_of",
    "arxiv_id",
    "code_urls",
)

NewPaper = tuple[str, PaperState]
ChangedPaper = tuple[int, PaperState]


class PaperWriter(Protocol):
    def insert(self, rows: Sequence[NewPaper]) -> list[int]:
        """Insert new papers; their ids, in order."""

    def update(self, rows: Sequence[ChangedPaper]) -> None: ...

    def touch(self, ids: Sequence[int]) -> None: ...

    def link(self, ids: Sequence[int]) -> None: ...


def writer_for(conn: sa.Connection, dump_id: int, now: datetime) -> PaperWriter:
    if conn.dialect.name == "postgresql":
        return PostgresWriter(conn, dump_id, now)
    return SqliteWriter(conn, dump_id, now)


def _json(values: tuple[str, ...]) -> str:
    return json.dumps(list(values)) if values else "[]"


class SqliteWriter:
    """Encodes like SQLAlchemy's SQLite types: ISO dates, naive-UTC datetimes, JSON text."""

    _INSERT = (
        f"INSERT INTO papers ({', '.join(INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
    )
    _UPDATE = (
        f"UPDATE papers SET {', '.join(f'{c} = ?' for c in UPDATE_COLUMNS)}, last_seen = ? "
        "WHERE id = ?"
    )

    def __init__(self, conn: sa.Connection, dump_id: int, now: datetime) -> None:
        self.conn = conn
        self.dump_id = dump_id
        self.now = now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.last_id: int | None = None

    def insert(self, rows: Sequence[NewPaper]) -> list[int]:
        ids = self._allocate(len(rows))
        now = self.now
        values = [
            (paper_id, key, p.title, *self._fields(p), now, now)
            for paper_id, (key, p) in zip(ids, rows, strict=True)
        ]
        if values:
            self.conn.exec_driver_sql(self._INSERT, values)
        return ids

    def _allocate(self, count: int) -> list[int]:
        """Ids for new papers, chosen here because executemany cannot return them. Exact: the
        transaction began with BEGIN IMMEDIATE, so no one else inserts until it commits."""
        if self.last_id is None:
            query = "SELECT coalesce(max(id), 0) FROM papers"
            self.last_id = int(self.conn.exec_driver_sql(query).scalar_one())
        first = self.last_id + 1
        self.last_id += count
        return list(range(first, first + count))

    def update(self, rows: Sequence[ChangedPaper]) -> None:
        if rows:
            values = [(*self._fields(p), self.now, paper_id) for paper_id, p in rows]
            self.conn.exec_driver_sql(self._UPDATE, values)

    def touch(self, ids: Sequence[int]) -> None:
        if ids:
            marks = ", ".join("?" for _ in ids)
            sql = f"UPDATE papers SET last_seen = ? WHERE id IN ({marks})"
            self.conn.exec_driver_sql(sql, (self.now, *ids))

    def link(self, ids: Sequence[int]) -> None:
        if ids:
            sql = "INSERT INTO paper_dumps (paper_id, dump_id) VALUES (?, ?)"
            self.conn.exec_driver_sql(sql, [(paper_id, self.dump_id) for paper_id in ids])

    @staticmethod
    def _fields(p: PaperState) -> tuple[Any, ...]:
        """The UPDATE_COLUMNS of ``p``, encoded."""
        return (
            p.abstract,
            p.authors_count,
            _json(p.authors),
            p.organisation,
            _day(p.published),
            p.upvotes,
            _day(p.upvotes_as_of),
            p.arxiv_id,
            _json(p.code_urls),
        )


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


class PostgresWriter:
    """COPY for new rows, one unnest()-driven UPDATE per batch for changed ones."""

    _COPY = f"COPY papers ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
    _NEXT_IDS = (
        "SELECT nextval(pg_get_serial_sequence('papers', 'id')) "
        "FROM generate_series(1, %s) ORDER BY 1"
    )
    _UPDATE = (
        "UPDATE papers AS p SET "
        + ", ".join(f"{c} = v.{c}" for c in UPDATE_COLUMNS)
        # %b: binary parameters, because text-format arrays escape every element with a regex.
        + ", last_seen = %s FROM unnest("
        "%b::integer[], %b::text[], %b::integer[], %b::jsonb[], %b::text[], %b::date[], "
        "%b::integer[], %b::date[], %b::text[], %b::jsonb[]"
        f") AS v(id, {', '.join(UPDATE_COLUMNS)}) WHERE p.id = v.id"
    )

    def __init__(self, conn: sa.Connection, dump_id: int, now: datetime) -> None:
        self.conn = conn
        self.dump_id = dump_id
        self.now = now

    def insert(self, rows: Sequence[NewPaper]) -> list[int]:
        if not rows:
            return []
        with self._cursor() as cursor:
            # Ids from the column's own sequence, so later plain INSERTs never collide.
            cursor.execute(self._NEXT_IDS, (len(rows),))
            ids = [int(row[0]) for row in cursor.fetchall()]
            with cursor.copy(self._COPY) as copy:
                for paper_id, (key, p) in zip(ids, rows, strict=True):
                    copy.write_row((paper_id, key, p.title, *_pg_fields(p), self.now, self.now))
        return ids

    def update(self, rows: Sequence[ChangedPaper]) -> None:
        if rows:
            columns = list(zip(*((paper_id, *_pg_fields(p)) for paper_id, p in rows), strict=True))
            with self._cursor() as cursor:
                cursor.execute(self._UPDATE, [self.now, *(list(c) for c in columns)])

    def touch(self, ids: Sequence[int]) -> None:
        if ids:
            with self._cursor() as cursor:
                sql = "UPDATE papers SET last_seen = %s WHERE id = ANY(%b::integer[])"
                cursor.execute(sql, (self.now, list(ids)))

    def link(self, ids: Sequence[int]) -> None:
        if ids:
            sql = "COPY paper_dumps (paper_id, dump_id) FROM STDIN"
            with self._cursor() as cursor, cursor.copy(sql) as copy:
                for paper_id in ids:
                    copy.write_row((paper_id, self.dump_id))

    def _cursor(self) -> psycopg.Cursor[Any]:
        # The same DBAPI connection SQLAlchemy holds, so this runs in the same transaction.
        raw = self.conn.connection.dbapi_connection
        return cast(psycopg.Connection[Any], raw).cursor()


def _pg_fields(p: PaperState) -> tuple[Any, ...]:
    """The UPDATE_COLUMNS of ``p``: psycopg adapts dates itself; JSONB goes as JSON text."""
    return (
        p.abstract,
        p.authors_count,
        _json(p.authors),
        p.organisation,
        p.published,
        p.upvotes,
        p.upvotes_as_of,
        p.arxiv_id,
        _json(p.code_urls),
    )
