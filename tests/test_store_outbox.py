"""The outbox's claims, leases and recorded outcomes, on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from feedd import store

T0 = datetime(2025, 10, 28, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(database_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()


def enqueue(engine: sa.Engine, count: int) -> list[str]:
    spec = store.SubscriptionSpec(name="kd", query="distillation")
    sub_id = store.sync_subscriptions(engine, [spec], T0).ids["kd"]
    with store.begin_write(engine) as conn:
        return store.enqueue(
            conn, sub_id, [f"webhook:h{n}" for n in range(count)], [], kind="immediate", now=T0
        )


def statuses(engine: sa.Engine) -> Counter[str]:
    return Counter(d.status for d in store.list_deliveries(engine, limit=1000))


def test_a_claim_takes_a_batch_that_no_later_claim_takes(engine: sa.Engine) -> None:
    enqueue(engine, 5)
    first = store.claim_due(engine, now=T0, limit=3, lease=LEASE)
    assert [d.status for d in first] == ["sending"] * 3
    second = store.claim_due(engine, now=T0, limit=3, lease=LEASE)
    assert len(second) == 2
    assert not {d.id for d in first} & {d.id for d in second}
    assert store.claim_due(engine, now=T0 + LEASE / 2, limit=3, lease=LEASE) == []


def test_a_lease_that_ran_out_is_due_again_and_a_renewed_one_is_not(engine: sa.Engine) -> None:
    enqueue(engine, 2)
    claimed = store.claim_due(engine, now=T0, limit=2, lease=LEASE)
    keep, lapse = claimed
    assert store.renew_leases(engine, [keep.id], until=T0 + 2 * LEASE) == 1
    again = store.claim_due(engine, now=T0 + LEASE, limit=5, lease=LEASE)
    assert [d.id for d in again] == [lapse.id]
    both = store.claim_due(engine, now=T0 + 2 * LEASE, limit=5, lease=LEASE)
    assert sorted(d.id for d in both) == sorted([keep.id, lapse.id])


def test_outcomes_of_a_batch_are_recorded_in_one_call(engine: sa.Engine) -> None:
    enqueue(engine, 3)
    sent, retry, dead = store.claim_due(engine, now=T0, limit=3, lease=LEASE)
    later = T0 + timedelta(minutes=5)
    store.record_attempts(
        engine,
        [
            store.Attempt(sent, T0),
            store.Attempt(retry, T0, error="HTTP 503 from x", retry_at=later),
            store.Attempt(dead, T0, error="HTTP 400 from x"),
        ],
    )
    rows = {d.id: d for d in store.list_deliveries(engine)}
    assert (rows[sent.id].status, rows[sent.id].sent_at, rows[sent.id].attempts) == ("sent", T0, 1)
    assert (rows[retry.id].status, rows[retry.id].next_attempt_at) == ("pending", later)
    assert rows[retry.id].last_error == "HTTP 503 from x"
    assert (rows[dead.id].status, rows[dead.id].attempts) == ("dead", 1)
    assert store.renew_leases(engine, [sent.id, retry.id, dead.id], until=later) == 0
    assert [d.id for d in store.claim_due(engine, now=later, limit=5, lease=LEASE)] == [retry.id]


def test_a_late_failure_never_undoes_a_send(engine: sa.Engine) -> None:
    """A process whose lease ran out reports a failure after another process sent the row."""
    enqueue(engine, 1)
    [mine] = store.claim_due(engine, now=T0, limit=1, lease=LEASE)
    [theirs] = store.claim_due(engine, now=T0 + LEASE, limit=1, lease=LEASE)
    store.record_attempts(engine, [store.Attempt(theirs, T0 + LEASE)])
    store.record_attempts(
        engine, [store.Attempt(mine, T0 + LEASE, error="timed out", retry_at=T0 + 2 * LEASE)]
    )
    assert statuses(engine) == {"sent": 1}


def test_release_hands_rows_back_at_once(engine: sa.Engine) -> None:
    enqueue(engine, 2)
    claimed = store.claim_due(engine, now=T0, limit=2, lease=LEASE)
    store.release(engine, [d.id for d in claimed], now=T0)
    assert statuses(engine) == {"pending": 2}
    assert len(store.claim_due(engine, now=T0, limit=5, lease=LEASE)) == 2


def test_concurrent_claims_never_take_a_row_twice(engine: sa.Engine) -> None:
    enqueue(engine, 200)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        while batch := store.claim_due(engine, now=T0, limit=7, lease=LEASE):
            with lock:
                taken.extend(d.id for d in batch)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 200
    assert len(set(taken)) == 200
