"""What the delivery workers write back to the outbox: outcomes in batches, and lease renewals.

:class:`Recorder` collects finished attempts and writes them ~25 ms or 100 rows at a time in one
transaction (one transaction per row was half the cost of a delivery on SQLite); on an orderly
stop it writes everything it has. An outcome it could not write is never guessed at: the row
stays ``sending``, its lease runs out, and the delivery is sent again (at-least-once).

:class:`Leases` knows which rows this process holds (claimed, outcome not yet written) and
extends their leases every third of the lease, so a long send is never claimed a second time
while this process lives, and a crashed process's rows come free within one lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from feedd import store
from feedd.errors import FeeddError
from feedd.logs import fields

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.025
FLUSH_ROWS = 100
RETRY_SECONDS = 1.0


class Recorder:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        on_written: Callable[[Sequence[store.Attempt]], None],
        flush_seconds: float = FLUSH_SECONDS,
        flush_rows: int = FLUSH_ROWS,
    ) -> None:
        self._engine = engine
        self._on_written = on_written
        self._flush_seconds = flush_seconds
        self._flush_rows = flush_rows
        self._pending: list[store.Attempt] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="delivery-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def add(self, attempt: store.Attempt) -> None:
        with self._changed:
            self._pending.append(attempt)
            if len(self._pending) == 1 or len(self._pending) >= self._flush_rows:
                self._changed.notify()

    def stop(self, timeout: float) -> None:
        """Write what has been added so far (one last try if the database is failing)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            if not self._write(batch):
                with self._changed:
                    if self._stopping:
                        log.error(
                            "Outcomes of deliveries were not recorded; they will be sent again",
                            extra=fields(deliveries=len(batch)),
                        )
                        return
                    self._pending[:0] = batch
                    self._changed.wait(RETRY_SECONDS)

    def _next_batch(self) -> list[store.Attempt]:
        """Wait for outcomes, then up to flush_seconds for more; empty when stopped."""
        with self._changed:
            while not self._pending and not self._stopping:
                self._changed.wait()
            until = time.monotonic() + self._flush_seconds
            while len(self._pending) < self._flush_rows and not self._stopping:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            batch, self._pending = self._pending, []
            return batch

    def _write(self, batch: list[store.Attempt]) -> bool:
        try:
            store.record_attempts(self._engine, batch)
        except FeeddError as exc:
            log.error("Unable to record delivery outcomes", extra=fields(error=exc.message))
            return False
        self._on_written(batch)
        for attempt in batch:
            _log_attempt(attempt)
        return True


def _log_attempt(attempt: store.Attempt) -> None:
    delivery = attempt.delivery
    if attempt.error is None:
        log.info(
            "Delivered",
            extra=fields(
                id=delivery.delivery_id,
                channel=delivery.channel,
                papers=len(delivery.paper_ids),
                attempt=delivery.attempts + 1,
            ),
        )
        return
    retry_at = attempt.retry_at
    log.warning(
        "Unable to deliver" if retry_at else "Delivery is dead",
        extra=fields(
            id=delivery.delivery_id,
            channel=delivery.channel,
            attempt=delivery.attempts + 1,
            error=attempt.error,
            retry_at=retry_at.isoformat() if retry_at else None,
        ),
    )


class Leases:
    """The outbox rows this process holds, and a thread that keeps their leases from running out."""

    def __init__(self, engine: sa.Engine, *, seconds: float, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self.length = timedelta(seconds=seconds)
        self._clock = clock
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delivery-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def hold(self, ids: Iterable[int]) -> set[int]:
        """Hold these rows; those that were not held already."""
        with self._lock:
            new = set(ids) - self._held
            self._held.update(new)
            return new

    def let_go(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.difference_update(ids)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

    def _run(self) -> None:
        every = self.length.total_seconds() / 3
        while not self._stop.wait(every):
            ids = self.held()
            if not ids:
                continue
            try:
                store.renew_leases(self._engine, ids, until=self._clock() + self.length)
            except FeeddError as exc:
                log.warning(
                    "Unable to renew the leases of deliveries in flight; another process may "
                    "send them too if this goes on",
                    extra=fields(error=exc.message, deliveries=len(ids)),
                )
