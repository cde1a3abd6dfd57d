"""One dump's journey through the stages: read -> parse -> store.

The daemon and ``feedd ingest`` both call ``ingest_file``; what happens to the file afterwards
(archive, rejected/, or left where it is) is their business.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

import sqlalchemy as sa

from feedd import parse, store
from feedd.errors import DumpRejected

Progress = Callable[[int], None]
CHUNK = 1 << 20


def ingest_file(
    engine: sa.Engine, path: Path, *, progress: Progress | None = None
) -> store.StoreOutcome:
    """Store every paper of one dump in one transaction, or record why not.

    Raises OSError when the file cannot be read (the file is not at fault: try again later) and
    StorageError when the database is unavailable. A file that is not a dump is not an exception
    here: the outcome says ``rejected`` and carries the reason.
    """
    stat = path.stat()
    reference_date = parse.reference_date_for(path.name, stat.st_mtime)
    info = store.DumpInfo(
        name=path.name,
        sha256=_sha256(path),
        size=stat.st_size,
        received_at=datetime.now(UTC),
        reference_date=reference_date,
    )
    if store.find_ingested_dump(engine, info.sha256) is not None:
        return store.record_dump(engine, info, status="duplicate")
    with path.open("rb") as raw:
        stream = cast(BinaryIO, _Counting(raw, progress)) if progress else raw
        try:
            dump = parse.open_dump(stream, reference_date=reference_date)
            return store.store_dump(
                engine, info, dump.format, dump, dump.warnings, page_date=dump.page_date
            )
        except DumpRejected as exc:
            return store.record_dump(engine, info, status="rejected", error=exc.message)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Counting:
    """A read-only stream wrapper that reports how many bytes have been consumed."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._progress(len(data))
        return data

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)
