"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC, always read back aware (tzinfo=UTC).

    SQLite has no time zones: its DATETIME drops ``tzinfo`` silently, so a local time would come
    back as a naive value that means something else. Storing UTC and re-attaching it on the way
    out makes both databases round-trip the same instant. Naive values are refused, because
    guessing their zone is how timestamps end up an hour off.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: feedd stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StringList(sa.TypeDecorator[tuple[str, ...]]):
    """A list of strings kept as JSON (JSONB on PostgreSQL), read back as a tuple.

    Tuples because the rest of feedd hands papers around as frozen dataclasses.
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> Any:
        return None if value is None else list(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> tuple[str, ...] | None:
        return None if value is None else tuple(value)
