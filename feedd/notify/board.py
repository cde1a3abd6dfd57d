"""The deliveries one process has claimed, between the dispatcher that claims them and the
workers that send them.

One channel (a webhook target, an e-mail address) may have at most ``per_channel`` sends in
flight, three quarters of the workers: a receiver that hangs then ties up those at most, and the
other workers keep sending to everyone else (SPEC §6). Its further rows wait here, and the
dispatcher claims no more rows for a channel that already has ``per_channel`` in hand.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

from feedd import store


@dataclass(frozen=True)
class Job:
    delivery: store.Delivery
    papers: list[store.StoredPaper] | None  # None: the worker reads them itself

    @property
    def channel(self) -> str:
        return self.delivery.channel


@dataclass(frozen=True)
class Room:
    """How many rows the dispatcher should claim now, and which channels to leave out."""

    rows: int
    full_channels: list[str]


class JobBoard:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.per_channel = max(1, workers * 3 // 4)
        # Up to `workers` rows claimed ahead, so a worker that finishes finds the next one
        # waiting; claimed again once no more than `workers` are in hand, so that each claim
        # takes a batch (one claim per row was a third of the cost of a delivery).
        self.capacity = 2 * workers
        self.limit = 4 * workers  # rows in hand, those held back for a busy channel included
        lock = threading.Lock()
        self._work = threading.Condition(lock)
        self._room = threading.Condition(lock)
        self._queued: deque[Job] = deque()
        self._in_flight: Counter[str] = Counter()
        self._in_hand: Counter[str] = Counter()  # queued + in flight
        self._closed = False
        self._due = False

    def wake(self) -> None:
        """New rows are due: the dispatcher should look now, not at its next poll."""
        with self._room:
            self._due = True
            self._room.notify()

    def room(self, *, after: Room | None, idle_seconds: float) -> Room | None:
        """Wait until a claim is worth making; None once the board is closed.

        That is when the workers run low on rows, and, if the last claim (``after``) found
        fewer rows than it asked for, when new rows are due, a channel it left out has room
        again, or ``idle_seconds`` have passed (rows fall due as time passes).
        """
        until = time.monotonic() + idle_seconds
        with self._room:
            while not self._closed:
                if after is not None and not self._due and not self._has_room(after):
                    left = until - time.monotonic()
                    if left > 0:
                        self._room.wait(left)
                        continue
                busy = self._busy()
                total = sum(self._in_hand.values())
                if busy <= self.workers and total < self.limit:
                    self._due = False
                    full = [ch for ch, n in self._in_hand.items() if n >= self.per_channel]
                    return Room(min(self.capacity - busy, self.limit - total), sorted(full))
                self._room.wait()
            return None

    def _busy(self) -> int:
        """The rows being sent, and those queued that may start as soon as a worker is free."""
        return sum(min(in_hand, self.per_channel) for in_hand in self._in_hand.values())

    def _has_room(self, room: Room) -> bool:
        return any(self._in_hand[ch] < self.per_channel for ch in room.full_channels)

    def post(self, jobs: Sequence[Job]) -> None:
        with self._work:
            if self._closed:
                return  # the rows are handed back by whoever closed the board
            self._queued.extend(jobs)
            self._in_hand.update(job.channel for job in jobs)
            self._work.notify(len(jobs))

    def take(self) -> Job | None:
        """The oldest job whose channel may have one more send in flight; None once closed."""
        with self._work:
            while not self._closed:
                for n, job in enumerate(self._queued):
                    if self._may_start(job):
                        del self._queued[n]
                        self._in_flight[job.channel] += 1
                        return job
                self._work.wait()
            return None

    def done(self, job: Job) -> None:
        """The worker that sent ``job`` calls this, then take(): one send ending lets at most one
        held-back job start, and that worker takes it itself (waking another worker for it on
        every send was ~5% of the CPU of a delivery)."""
        with self._work:
            for counts in (self._in_flight, self._in_hand):
                counts[job.channel] -= 1
                if counts[job.channel] <= 0:
                    del counts[job.channel]
            # The dispatcher waits for either of these (room()): wake it for nothing else.
            if self._busy() <= self.workers or self._in_hand[job.channel] == self.per_channel - 1:
                self._room.notify()

    def close(self) -> list[Job]:
        """Hand out no more jobs; the ones never started."""
        with self._work:
            self._closed = True
            left = list(self._queued)
            self._queued.clear()
            self._work.notify_all()
            self._room.notify_all()
            return left

    def _may_start(self, job: Job) -> bool:
        return self._in_flight[job.channel] < self.per_channel
