"""Storage: the schema and its migrations, storing parsed dumps, and reading papers back.

Stages get plain frozen dataclasses from here (``StoredPaper``, ``StoredDump``, ``StoreOutcome``),
never sessions. Database failures surface as ``feedd.errors.StorageError``.
"""

from __future__ import annotations

from feedd.store.db import WRITE_OPTION, begin_write, make_engine, storage_errors
from feedd.store.dumps import (
    DumpInfo,
    StoredDump,
    StoreOutcome,
    find_ingested_dump,
    list_dumps,
    record_dump,
)
from feedd.store.migrate import current_revision, head_revision, upgrade
from feedd.store.papers import StoredPaper, count_papers, get_paper, get_papers, list_papers
from feedd.store.upsert import store_dump, store_dump_in

__all__ = [
    "WRITE_OPTION",
    "DumpInfo",
    "StoreOutcome",
    "StoredDump",
    "StoredPaper",
    "begin_write",
    "count_papers",
    "current_revision",
    "find_ingested_dump",
    "get_paper",
    "get_papers",
    "head_revision",
    "list_dumps",
    "list_papers",
    "make_engine",
    "record_dump",
    "storage_errors",
    "store_dump",
    "store_dump_in",
    "upgrade",
]
