"""Leadership: which of several ``feedd run`` processes watches the inbox and runs the scheduler.

Every process serves HTTP and sends deliveries; exactly one at a time *leads*. On PostgreSQL the
leader holds a session-level advisory lock on a connection of its own: the lock lives as long as
that connection, so when the leader dies (even by ``kill -9``) PostgreSQL ends its session and the
lock is free for the next process that asks, which the followers do every ``interval`` seconds.
A leader checks its connection on the same beat and steps down at once when it is gone (a
restarted server, a cut network): it can no longer know that nobody else leads.

On SQLite the same is done with an exclusive ``flock`` on a file beside the database, which the
kernel releases when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from feedd.logs import fields

log = logging.getLogger(__name__)

LEADER_LOCK = 0x66656564_0003  # "feed" + 3: the pg advisory lock key (see store.db for 1 and 2)
INTERVAL_SECONDS = 2.0


class _Lock(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class _PostgresLock:
    def __init__(self, url: sa.URL) -> None:
        # A connection of its own, outside the pool: the lock lives and dies with it. TCP
        # keepalives notice a vanished server in seconds rather than hours.
        self._engine = sa.create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 3,
                "connect_timeout": 5,
            },
        )
        self._conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK)))
            return bool(got.scalar_one())
        except sa.exc.SQLAlchemyError as exc:
            log.warning("Unable to ask for leadership", extra=fields(error=_one_line(exc)))
            self._close()
            return False

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError as exc:
            log.warning("Lost the leadership connection", extra=fields(error=_one_line(exc)))
            self._close()
            return False

    def release(self) -> None:
        if self._conn is not None:
            # Closing the connection releases the lock anyway; unlocking first is just polite.
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(LEADER_LOCK)))
        self._close()
        self._engine.dispose()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None


class _FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def _lock_for(engine: sa.Engine) -> _Lock:
    if engine.dialect.name == "postgresql":
        return _PostgresLock(engine.url)
    database = engine.url.database or "feedd.db"
    return _FileLock(Path(database).with_name(Path(database).name + ".leader"))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class Leadership:
    """Runs ``on_elected`` when this process becomes the leader and ``on_deposed`` when it stops
    being one (both on the leadership thread, or on the caller of ``start``/``stop``)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._lock = _lock_for(engine)
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_leader = False

    def start(self) -> None:
        """Try once now (so a lone process leads before it reports ready), then keep trying."""
        self._step()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.is_leader:
            self._depose("stopping")
        self._lock.release()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._step()
            except Exception:  # the thread must outlive any one failure
                log.exception("Leadership check failed")

    def _step(self) -> None:
        if self.is_leader:
            if not self._lock.still_held():
                self._depose("lost the lock")
            return
        if not self._lock.try_acquire():
            return
        self.is_leader = True
        log.info("This process leads: it watches the inbox and runs the scheduler")
        try:
            self._on_elected()
        except Exception:
            # Leading without the leader's work would leave the inbox unwatched: hand it back.
            log.exception("Unable to start the leader's work; stepping down")
            self.is_leader = False
            self._lock.release()

    def _depose(self, why: str) -> None:
        self.is_leader = False
        log.warning("This process no longer leads", extra=fields(reason=why))
        self._on_deposed()
