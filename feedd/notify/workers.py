"""Delivery workers: claim due outbox rows, send each through its channel, record the outcome.

One dispatcher thread claims due rows in batches (never more than the workers can start soon)
and posts them on a :class:`~feedd.notify.board.JobBoard`, where the worker threads take them.
Each worker sends one row at a time, and one channel may occupy at most three quarters of the
workers, so a receiver that hangs holds up only the workers it hangs; the others keep sending to
every other receiver. Outcomes go to a :class:`~feedd.notify.ledger.Recorder`, which writes them
in batches; :class:`~feedd.notify.ledger.Leases` keeps the leases of the rows in hand from
running out.

A row is marked sent only after the receiver accepted it. A failure is retried after the next
wait of the retry schedule (±20% jitter so a receiver that was down is not hit by every retry
at once, and never sooner than its Retry-After); a permanent refusal, or a failure after the
last wait, makes the row dead: kept, and sent again by ``feedd deliveries retry``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from feedd import store
from feedd.errors import FeeddError
from feedd.logs import fields
from feedd.notify.board import Job, JobBoard, Room
from feedd.notify.ledger import FLUSH_SECONDS, Leases, Recorder
from feedd.notify.webhook import WebhookClient, WebhookTarget

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 1.0


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def permanent(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


class Sender(Protocol):
    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Outcome: ...


@dataclass(frozen=True)
class _Failure:
    error: str
    ok: bool = False
    permanent: bool = True


def paper_payload(paper: store.StoredPaper, url: str) -> dict[str, object]:
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "url": url,
        "published": paper.published.isoformat() if isinstance(paper.published, date) else None,
        "upvotes": paper.upvotes,
        "authors": list(paper.authors),
        "organisation": paper.organisation,
        "code_urls": list(paper.code_urls),
        "arxiv_id": paper.arxiv_id,
    }


class WebhookSender:
    """Builds the SPEC §6 body for a delivery and posts it, signed."""

    def __init__(
        self,
        targets: Mapping[str, WebhookTarget],
        *,
        allow_private: bool,
        feed_url: Callable[[str], str],
        paper_url: Callable[[store.StoredPaper], str],
    ) -> None:
        self._targets = targets
        self._allow_private = allow_private
        self._feed_url = feed_url
        self._paper_url = paper_url
        self._clients: dict[str, WebhookClient] = {}
        self._lock = threading.Lock()

    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Outcome:
        name = delivery.channel.removeprefix("webhook:")
        client = self._client(name)
        if client is None:
            return _Failure(f"webhook {name!r} is no longer in the settings")
        body = json.dumps(
            {
                "type": "papers.matched",
                "delivery_id": delivery.delivery_id,
                "subscription": {
                    "name": delivery.subscription_name,
                    "title": delivery.subscription_title or delivery.subscription_name,
                    "feed_url": self._feed_url(delivery.subscription_name),
                },
                "papers": [paper_payload(p, self._paper_url(p)) for p in papers],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return client.send(delivery.delivery_id, body)

    def _client(self, name: str) -> WebhookClient | None:
        """One long-lived client per target, made on first use."""
        target = self._targets.get(name)
        if target is None:
            return None
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = WebhookClient(target, allow_private=self._allow_private)
                self._clients[name] = client
            return client

    def close(self) -> None:
        """Close the kept-alive connections (after the workers stopped using this sender)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class DeliveryWorkers:
    def __init__(
        self,
        engine: sa.Engine,
        senders: Mapping[str, Sender],
        *,
        workers: int,
        retry_waits: Sequence[float],
        lease_seconds: float = 60.0,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_sent: Callable[[store.Delivery, datetime], None] = lambda _delivery, _at: None,
    ) -> None:
        self._engine = engine
        self._on_sent = on_sent  # after a delivery is recorded as sent (metrics)
        self.senders = senders  # by channel kind: "webhook", "email"; swapped on reload
        self._count = workers
        self._waits = tuple(retry_waits)
        self._clock = clock
        self._board = JobBoard(workers)
        self._leases = Leases(engine, seconds=lease_seconds, clock=clock)
        self._recorder = Recorder(engine, on_written=self._written, flush_seconds=flush_seconds)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._leases.start()
        self._recorder.start()
        self._threads = [
            threading.Thread(target=self._work, name=f"delivery-{n}", daemon=True)
            for n in range(self._count)
        ]
        self._threads.append(
            threading.Thread(target=self._dispatch, name="delivery-dispatcher", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """New rows are due: do not wait for the next poll."""
        self._board.wake()

    def alive(self) -> bool:
        threads_alive = bool(self._threads) and all(t.is_alive() for t in self._threads)
        return threads_alive and self._recorder.alive() and self._leases.alive()

    def stop(self, timeout: float) -> None:
        """Finish the sends in flight (their timeouts bound them), record every outcome, and
        release the rows not sent (queued, or still in flight at the timeout)."""
        until = time.monotonic() + timeout
        self._board.close()  # rows queued but not started are released below
        for thread in self._threads:
            thread.join(timeout=max(until - time.monotonic(), 0))
        self._recorder.stop(timeout=max(until - time.monotonic(), 1.0))
        self._leases.stop()
        left = self._leases.held()
        if left:
            try:
                store.release(self._engine, left, now=self._clock())
            except FeeddError as exc:
                log.error(
                    "Unable to hand back deliveries; they are sent again when their lease ends",
                    extra=fields(error=exc.message, deliveries=len(left)),
                )

    def _dispatch(self) -> None:
        short: Room | None = None
        idle = IDLE_WAIT_SECONDS
        while (room := self._board.room(after=short, idle_seconds=idle)) is not None:
            short = room if self._claim(room) < room.rows else None
            if short is not None:
                idle = self._until_next_due()

    def _until_next_due(self) -> float:
        """How long the dispatcher may wait before the next row falls due (at most the poll)."""
        try:
            when = store.next_due(self._engine)
        except FeeddError:
            return IDLE_WAIT_SECONDS
        if when is None:
            return IDLE_WAIT_SECONDS
        seconds = (when - self._clock()).total_seconds()
        # Due already but not claimed: a channel it is for is full, or another process has it.
        return IDLE_WAIT_SECONDS if seconds <= 0 else min(seconds, IDLE_WAIT_SECONDS)

    def _claim(self, room: Room) -> int:
        try:
            claimed = store.claim_due(
                self._engine,
                now=self._clock(),
                limit=room.rows,
                lease=self._leases.length,
                skip_channels=room.full_channels,
            )
        except FeeddError as exc:
            log.error("Unable to read the outbox", extra=fields(error=exc.message))
            return 0
        if not claimed:
            return 0
        # A row this process still has in hand is due again only if its lease lapsed (renewals
        # failing, or held up behind a long write): the claim renewed it; it is not sent twice.
        new = self._leases.hold(d.id for d in claimed)
        fresh = [d for d in claimed if d.id in new]
        if not fresh:
            return len(claimed)
        papers = self._papers(fresh)
        self._board.post(
            [
                Job(d, None if papers is None else [papers[i] for i in d.paper_ids if i in papers])
                for d in fresh
            ]
        )
        return len(claimed)

    def _papers(self, claimed: list[store.Delivery]) -> dict[int, store.StoredPaper] | None:
        """The papers of a whole batch in one read."""
        ids = sorted({i for delivery in claimed for i in delivery.paper_ids})
        try:
            return {paper.id: paper for paper in store.get_papers(self._engine, ids)}
        except FeeddError:
            return None  # each worker tries again for its own row, and records the failure

    def _work(self) -> None:
        while (job := self._board.take()) is not None:
            self._recorder.add(self._attempt(job))
            self._board.done(job)

    def _written(self, attempts: Sequence[store.Attempt]) -> None:
        self._leases.let_go(a.delivery.id for a in attempts)
        for attempt in attempts:
            if attempt.error is None:
                self._on_sent(attempt.delivery, attempt.at)
        if any(a.retry_at is not None for a in attempts):
            self._board.wake()  # the dispatcher times its wait to the earliest retry

    def _attempt(self, job: Job) -> store.Attempt:
        delivery = job.delivery
        try:
            outcome = self._send(delivery, job.papers)
        except Exception:  # a bug in one channel must not kill the worker
            log.exception("Delivery failed unexpectedly", extra=fields(id=delivery.delivery_id))
            outcome = _Failure("internal error; see the log", permanent=False)
        now = self._clock()
        if outcome.ok:
            return store.Attempt(delivery, now)
        retry_at = None if outcome.permanent else self._retry_at(delivery, outcome, now)
        return store.Attempt(delivery, now, error=outcome.error or "failed", retry_at=retry_at)

    def _send(self, delivery: store.Delivery, papers: list[store.StoredPaper] | None) -> Outcome:
        kind = delivery.channel.split(":", 1)[0]
        sender = self.senders.get(kind)
        if sender is None:
            return _Failure(f"no sender for channel {delivery.channel!r}; check the settings")
        if papers is None:
            papers = store.get_papers(self._engine, list(delivery.paper_ids))
        return sender(delivery, papers)

    def _retry_at(
        self, delivery: store.Delivery, outcome: Outcome, now: datetime
    ) -> datetime | None:
        if delivery.attempts >= len(self._waits):
            return None
        wait = self._waits[delivery.attempts] * random.uniform(0.8, 1.2)
        retry_after = getattr(outcome, "retry_after", None)
        if retry_after:
            wait = max(wait, float(retry_after))
        return now + timedelta(seconds=wait)
