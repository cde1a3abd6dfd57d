"""Delivery workers: claim due outbox rows, send each through its channel, record the outcome.

A row is marked sent only after the receiver accepted it. A failure is retried after the next
wait of the retry schedule (±20% jitter so a receiver that was down is not hit by every retry
at once, and never sooner than its Retry-After); a permanent refusal, or a failure after the
last wait, makes the row dead: kept, and sent again by ``feedd deliveries retry``. Each worker
sends one row at a time, so a receiver that hangs holds up only the worker it hangs.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from feedd import store
from feedd.errors import FeeddError
from feedd.logs import fields
from feedd.notify.webhook import WebhookTarget, send_webhook

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than any send may take (webhook timeouts are capped)
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

    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Outcome:
        name = delivery.channel.removeprefix("webhook:")
        target = self._targets.get(name)
        if target is None:
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
        return send_webhook(target, delivery.delivery_id, body, allow_private=self._allow_private)


class DeliveryWorkers:
    def __init__(
        self,
        engine: sa.Engine,
        senders: Mapping[str, Sender],
        *,
        workers: int,
        retry_waits: Sequence[float],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_sent: Callable[[store.Delivery, datetime], None] = lambda _delivery, _at: None,
    ) -> None:
        self._engine = engine
        self._on_sent = on_sent  # after a delivery is recorded as sent (metrics)
        self.senders = senders  # by channel kind: "webhook", "email"; swapped on reload
        self._count = workers
        self._waits = tuple(retry_waits)
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._in_hand: dict[int, int] = {}  # thread ident -> outbox row id
        self._lock = threading.Lock()

    def start(self) -> None:
        for n in range(self._count):
            thread = threading.Thread(target=self._run, name=f"delivery-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """New rows are due: do not wait for the next poll."""
        with self._wake:
            self._wake.notify_all()

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self, timeout: float) -> None:
        """Finish the sends in flight (their timeouts bound them); release what did not finish."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=timeout / max(len(self._threads), 1))
        with self._lock:
            left = list(self._in_hand.values())
        if left:
            store.release(self._engine, left, now=self._clock())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = store.claim_due(self._engine, now=self._clock(), limit=1, lease=LEASE)
            except FeeddError as exc:
                log.error("Unable to read the outbox", extra=fields(error=exc.message))
                claimed = []
            if not claimed:
                with self._wake:
                    self._wake.wait(IDLE_WAIT_SECONDS)
                continue
            for delivery in claimed:
                self._deliver(delivery)

    def _deliver(self, delivery: store.Delivery) -> None:
        ident = threading.get_ident()
        with self._lock:
            self._in_hand[ident] = delivery.id
        try:
            outcome = self._send(delivery)
            self._record(delivery, outcome)
        except Exception:  # a bug in one channel must not kill the worker
            log.exception("Delivery failed unexpectedly", extra=fields(id=delivery.delivery_id))
            self._record(delivery, _Failure("internal error; see the log", permanent=False))
        finally:
            with self._lock:
                self._in_hand.pop(ident, None)

    def _send(self, delivery: store.Delivery) -> Outcome:
        kind = delivery.channel.split(":", 1)[0]
        sender = self.senders.get(kind)
        if sender is None:
            return _Failure(f"no sender for channel {delivery.channel!r}; check the settings")
        papers = store.get_papers(self._engine, list(delivery.paper_ids))
        return sender(delivery, papers)

    def _record(self, delivery: store.Delivery, outcome: Outcome) -> None:
        now = self._clock()
        if outcome.ok:
            store.mark_sent(self._engine, delivery, now=now)
            self._on_sent(delivery, now)
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
        retry_at = None if outcome.permanent else self._retry_at(delivery, outcome, now)
        store.mark_failed(
            self._engine, delivery, error=outcome.error or "failed", retry_at=retry_at
        )
        log.warning(
            "Unable to deliver" if retry_at else "Delivery is dead",
            extra=fields(
                id=delivery.delivery_id,
                channel=delivery.channel,
                attempt=delivery.attempts + 1,
                error=outcome.error,
                retry_at=retry_at.isoformat() if retry_at else None,
            ),
        )

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
