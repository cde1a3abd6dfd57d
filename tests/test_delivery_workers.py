"""DeliveryWorkers in-process on a real database: batched outcomes, lease renewal, orderly stop.

The senders here are plain functions (the webhook channel has its own tests); what is checked is
what the workers write to the outbox, and when.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from feedd import store
from feedd.notify.ledger import FLUSH_SECONDS
from feedd.notify.workers import DeliveryWorkers
from feedd.store.models import deliveries
from tests.helpers import wait_for


@dataclass(frozen=True)
class Ok:
    ok: bool = True
    permanent: bool = False
    error: str | None = None


class Sender:
    """Accepts every delivery; those whose channel is in ``hold`` wait for ``release``."""

    def __init__(self, hold: frozenset[str] = frozenset()) -> None:
        self.hold = hold
        self.release = threading.Event()
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Ok:
        with self.lock:
            self.seen.append(delivery.delivery_id)
        if delivery.channel in self.hold:
            self.release.wait(30)
        return Ok()

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(database_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()


def enqueue(engine: sa.Engine, channels: list[str]) -> list[str]:
    now = datetime.now(UTC)
    spec = store.SubscriptionSpec(name="kd", query="distillation")
    sub_id = store.sync_subscriptions(engine, [spec], now).ids["kd"]
    with store.begin_write(engine) as conn:
        return store.enqueue(conn, sub_id, channels, [], kind="immediate", now=now)


def rows(engine: sa.Engine) -> list[store.Delivery]:
    return store.list_deliveries(engine, limit=1000)


def statuses(engine: sa.Engine) -> Counter[str]:
    return Counter(d.status for d in rows(engine))


def workers(
    engine: sa.Engine,
    sender: Sender,
    *,
    count: int = 4,
    lease_seconds: float = 60.0,
    flush_seconds: float = FLUSH_SECONDS,
) -> DeliveryWorkers:
    return DeliveryWorkers(
        engine,
        {"test": sender},
        workers=count,
        retry_waits=[60],
        lease_seconds=lease_seconds,
        flush_seconds=flush_seconds,
    )


def test_an_orderly_stop_records_every_outcome_it_has(engine: sa.Engine) -> None:
    ids = enqueue(engine, [f"test:{n}" for n in range(50)])
    sender = Sender()
    # Outcomes would wait a minute for the next batch: only the stop writes them.
    pool = workers(engine, sender, flush_seconds=60)
    pool.start()
    wait_for(lambda: sender.count() == 50)
    assert statuses(engine) == {"sending": 50}
    pool.stop(timeout=10)
    assert statuses(engine) == {"sent": 50}
    assert sorted(sender.seen) == sorted(ids)


def lease_until(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        value = conn.execute(sa.select(deliveries.c.lease_until)).scalar_one()
    assert isinstance(value, datetime)
    return value


def test_a_long_send_keeps_its_lease(engine: sa.Engine) -> None:
    enqueue(engine, ["test:slow"])
    sender = Sender(hold=frozenset({"test:slow"}))
    pool = workers(engine, sender, lease_seconds=1.5)  # renewed every 0.5 s
    pool.start()
    try:
        wait_for(lambda: sender.count() == 1)
        first = lease_until(engine)
        wait_for(lambda: lease_until(engine) > first, timeout=5)
        # Another process looking when the first lease would have run out finds nothing due.
        assert store.claim_due(engine, now=first, limit=5, lease=timedelta(seconds=5)) == []
    finally:
        sender.release.set()
    wait_for(lambda: statuses(engine) == {"sent": 1})
    pool.stop(timeout=10)
    assert sender.count() == 1


def test_a_stop_hands_back_rows_not_sent(engine: sa.Engine) -> None:
    enqueue(engine, ["test:slow-a", "test:slow-b"] + [f"test:{n}" for n in range(20)])
    sender = Sender(hold=frozenset({"test:slow-a", "test:slow-b"}))
    pool = workers(engine, sender, count=2)
    pool.start()
    wait_for(lambda: sender.count() == 2)
    # Both workers hang; the rows claimed ahead of them wait in the queue.
    wait_for(lambda: statuses(engine)["sending"] == 4)
    pool.stop(timeout=0.5)  # the two sends in flight do not finish in time either
    sender.release.set()
    assert statuses(engine) == {"pending": 22}
    assert sender.count() == 2


def test_a_channel_that_hangs_leaves_workers_for_the_others(engine: sa.Engine) -> None:
    enqueue(engine, ["test:stuck"] * 10 + ["test:fine"] * 10)
    sender = Sender(hold=frozenset({"test:stuck"}))
    pool = workers(engine, sender, count=4)
    pool.start()
    try:
        wait_for(lambda: statuses(engine)["sent"] == 10)
        sent = {d.channel for d in rows(engine) if d.status == "sent"}
        assert sent == {"test:fine"}
        assert sender.count() == 10 + 3  # three of the four workers at most on one channel
    finally:
        sender.release.set()
    wait_for(lambda: statuses(engine) == {"sent": 20})
    pool.stop(timeout=10)


def test_a_row_whose_lease_lapsed_in_hand_is_not_sent_twice_by_its_process(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals failing (or held up behind a long write) let the lease lapse mid-send; the
    dispatcher then claims the row again, and must not hand it to a second worker."""
    monkeypatch.setattr(store, "renew_leases", lambda *args, **kwargs: 0)
    enqueue(engine, ["test:slow"])
    sender = Sender(hold=frozenset({"test:slow"}))
    pool = workers(engine, sender, lease_seconds=0.3)
    pool.start()
    try:
        wait_for(lambda: sender.count() == 1)
        first = lease_until(engine)
        wait_for(lambda: lease_until(engine) > first)  # claimed again: only a claim moves it now
        pool.wake()
        second = lease_until(engine)
        wait_for(lambda: lease_until(engine) > second)  # and once more, for good measure
        assert sender.count() == 1
    finally:
        sender.release.set()
    wait_for(lambda: statuses(engine) == {"sent": 1})
    pool.stop(timeout=10)
    assert sender.count() == 1
