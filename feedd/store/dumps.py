"""Dump rows: what arrived, when, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from feedd.store.db import begin_write, storage_errors
from feedd.store.models import DUMP_STATUSES, dumps


@dataclass(frozen=True)
class DumpInfo:
    """The file as it arrived; ``received_at`` must be timezone-aware."""

    name: str
    sha256: str
    size: int
    received_at: datetime
    reference_date: date | None


@dataclass(frozen=True)
class StoreOutcome:
    """What one dump did to the database.

    ``papers_total`` counts distinct papers (= new + updated + unchanged); ``entries`` counts the
    records the parser produced, so a paper listed twice in one dump counts twice there only.
    """

    dump_id: int
    status: str
    format: str | None
    papers_total: int
    papers_new: int
    papers_updated: int
    papers_unchanged: int
    warnings: tuple[str, ...]
    error: str | None
    new_paper_ids: tuple[int, ...]
    updated_paper_ids: tuple[int, ...]
    entries: int = 0


@dataclass(frozen=True)
class StoredDump:
    id: int
    name: str
    sha256: str
    size: int
    format: str | None
    status: str
    reference_date: date | None
    page_date: date | None
    papers_total: int
    papers_new: int
    papers_updated: int
    papers_unchanged: int
    warnings: tuple[str, ...]
    error: str | None
    received_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "status": self.status,
            "reference_date": _iso(self.reference_date),
            "page_date": _iso(self.page_date),
            "papers_total": self.papers_total,
            "papers_new": self.papers_new,
            "papers_updated": self.papers_updated,
            "papers_unchanged": self.papers_unchanged,
            "warnings": list(self.warnings),
            "error": self.error,
            "received_at": self.received_at.isoformat(),
            "finished_at": _iso(self.finished_at),
        }


def find_ingested_dump(engine: sa.Engine, sha256: str) -> int | None:
    """The id of the dump that ingested exactly these bytes, if one did."""
    with storage_errors(engine), engine.connect() as conn:
        return ingested_dump_id(conn, sha256)


def record_dump(
    engine: sa.Engine,
    info: DumpInfo,
    *,
    status: str,
    error: str | None = None,
    format: str | None = None,
) -> StoreOutcome:
    """Record a duplicate or rejected file: one dump row, nothing else changes."""
    if status not in DUMP_STATUSES or status == "ingested":
        raise ValueError(f"record_dump is for duplicates and rejections, not {status!r}")
    with storage_errors(engine), begin_write(engine) as conn:
        dump_id = insert_dump_row(conn, info, status=status, format=format, error=error)
    return empty_outcome(dump_id, status=status, format=format, error=error)


def list_dumps(engine: sa.Engine, *, limit: int = 50) -> list[StoredDump]:
    """The most recently received dumps first."""
    query = sa.select(dumps).order_by(dumps.c.id.desc()).limit(limit)
    with storage_errors(engine), engine.connect() as conn:
        return [StoredDump(**_dump_fields(row._mapping)) for row in conn.execute(query)]


def ingested_dump_id(conn: sa.Connection, sha256: str) -> int | None:
    query = sa.select(dumps.c.id).where(dumps.c.sha256 == sha256, dumps.c.status == "ingested")
    return conn.execute(query).scalar_one_or_none()


def insert_dump_row(
    conn: sa.Connection,
    info: DumpInfo,
    *,
    status: str,
    format: str | None,
    error: str | None = None,
    page_date: date | None = None,
) -> int:
    now = datetime.now(UTC)
    values = {
        "name": info.name,
        "sha256": info.sha256,
        "size": info.size,
        "format": format,
        "status": status,
        "reference_date": info.reference_date,
        "page_date": page_date,
        "papers_total": 0,
        "papers_new": 0,
        "papers_updated": 0,
        "papers_unchanged": 0,
        "warnings": (),
        "error": error,
        "received_at": info.received_at,
        "finished_at": now,
    }
    return int(conn.execute(sa.insert(dumps).values(values).returning(dumps.c.id)).scalar_one())


def finish_dump_row(conn: sa.Connection, outcome: StoreOutcome) -> None:
    conn.execute(
        sa.update(dumps)
        .where(dumps.c.id == outcome.dump_id)
        .values(
            papers_total=outcome.papers_total,
            papers_new=outcome.papers_new,
            papers_updated=outcome.papers_updated,
            papers_unchanged=outcome.papers_unchanged,
            warnings=outcome.warnings,
            finished_at=datetime.now(UTC),
        )
    )


def empty_outcome(
    dump_id: int, *, status: str, format: str | None, error: str | None = None
) -> StoreOutcome:
    return StoreOutcome(
        dump_id=dump_id,
        status=status,
        format=format,
        papers_total=0,
        papers_new=0,
        papers_updated=0,
        papers_unchanged=0,
        warnings=(),
        error=error,
        new_paper_ids=(),
        updated_paper_ids=(),
    )


def _dump_fields(row: Any) -> dict[str, Any]:
    return {column.name: row[column.name] for column in dumps.columns}


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
