"""Bounded database reads, for /healthz and /metrics.

A health check or a scrape must answer within seconds even when the database does not: a server
that accepts connections and never replies, a table locked by a migration. Two bounds do it:

- on PostgreSQL each read runs with a ``statement_timeout``, so the server gives up on it;
- the caller waits for the reading thread at most a wall-clock ``timeout``, which also covers
  what happens before any statement (connecting, checking a connection out of the pool).

Callers that arrive while a read is in flight share its answer instead of starting another, so
a database that hangs costs one stuck thread, not one per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import sqlalchemy as sa

from feedd.errors import FeeddError
from feedd.logs import fields
from feedd.store.db import storage_errors
from feedd.store.models import dumps

log = logging.getLogger(__name__)

T = TypeVar("T")


def limit_statements(conn: sa.Connection, seconds: float) -> None:
    """Make the server cancel any statement of this transaction that runs longer (PostgreSQL).

    SQLite readers never wait for a writer in WAL mode; the caller's deadline covers the rest.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(int(seconds * 1000), 1)}")


def ping(engine: sa.Engine, *, statement_seconds: float) -> None:
    """A real read of the schema (not ``SELECT 1``): a database without feedd's tables fails."""
    with storage_errors(engine), engine.connect() as conn:
        limit_statements(conn, statement_seconds)
        conn.execute(sa.select(sa.func.max(dumps.c.id))).scalar()


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A read's value, or why there is none (one line, no secrets)."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Answer[T] = Answer(error="no answer yet")


class SharedRead(Generic[T]):
    """Runs ``read`` on a thread of its own; callers wait at most ``timeout`` seconds for it."""

    def __init__(self, read: Callable[[], T], *, name: str) -> None:
        self._read = read
        self._name = name
        self._lock = threading.Lock()
        self._flight: _Flight[T] | None = None

    def __call__(self, timeout: float) -> Answer[T]:
        with self._lock:
            flight = self._flight
            if flight is None or flight.done.is_set():
                flight = self._flight = _Flight()
                # A daemon thread: one stuck in a dead connection must not hold up the exit.
                threading.Thread(
                    target=self._run, args=(flight,), name=self._name, daemon=True
                ).start()
        if not flight.done.wait(timeout):
            return Answer(error=f"the database did not answer within {timeout:g} s")
        return flight.answer

    def _run(self, flight: _Flight[T]) -> None:
        try:
            flight.answer = Answer(value=self._read())
        except FeeddError as exc:
            flight.answer = Answer(error=exc.message)
        except Exception:
            log.exception("Unexpected failure reading the database", extra=fields(read=self._name))
            flight.answer = Answer(error="unexpected error; see the log")
        finally:
            flight.done.set()
