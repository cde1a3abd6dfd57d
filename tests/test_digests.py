"""Digests on a controlled clock: the real scheduler (APScheduler), the real outbox and delivery
workers, and a real SMTP server (aiosmtpd); time-machine moves the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from feedd import pipeline, store
from feedd.notify.channels import EmailSender, smtp_config
from feedd.notify.digests import DigestScheduler, digest_plans
from feedd.notify.workers import DeliveryWorkers
from feedd.publish import FeedSettings
from feedd.settings import SmtpSettings, SubscriptionSettings
from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_notify_email import Recorder

KD = "We compress a teacher into a student with knowledge distillation, carefully. " * 3
GRAPHS = "We study message passing on graphs with many nodes and edges, at length. " * 3
MORNING = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: float = 0) -> datetime:
    return MORNING.replace(hour=hour, minute=minute) + timedelta(seconds=second)


SUBSCRIPTIONS = [
    SubscriptionSettings(
        name="kd",
        title="Distillation",
        query='"knowledge distillation"',
        schedule="0 8 * * *",
        email_to=["kd@example.org"],
    ),
    SubscriptionSettings(
        name="graphs", query="graphs", schedule="0 8 * * *", email_to=["graphs@example.org"]
    ),
    SubscriptionSettings(
        name="nothing", query="zebrafish", schedule="0 8 * * *", email_to=["z@example.org"]
    ),
]


class Stack:
    """The delivery half of ``feedd run`` in this process: scheduler, workers, e-mail sender."""

    def __init__(self, engine: sa.Engine, subs: pipeline.Subscriptions, smtp_port: int) -> None:
        smtp = SmtpSettings(
            host="127.0.0.1",
            port=smtp_port,
            security="none",
            from_address="feedd <feedd@example.org>",
        )
        sender = EmailSender(
            engine,
            smtp_config(smtp),
            FeedSettings(base_url="http://feedd.test"),
            paper_url=lambda paper: f"http://feedd.test/papers/{paper.id}",
        )
        self.workers = DeliveryWorkers(engine, {"email": sender}, workers=2, retry_waits=[1.0])
        self.scheduler = DigestScheduler(
            engine, digest_plans(subs.by_id), pipeline.receivers, on_queued=self.workers.wake
        )

    def __enter__(self) -> Stack:
        self.workers.start()
        self.scheduler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.scheduler.stop()
        self.workers.stop(timeout=5)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'feedd.db'}")
    store.upgrade(engine)
    yield engine
    engine.dispose()


def ingest(engine: sa.Engine, folder: Path, name: str, papers: list[tuple[str, str]]) -> None:
    page = HEADER + "byAK and the research community\n\nOct 28\n\n"
    page += "".join(entry(title, abstract) for title, abstract in papers)
    path = folder / name
    path.write_text(page, encoding="utf-8")
    subs = pipeline.prepare_subscriptions(engine, SUBSCRIPTIONS)
    result = pipeline.ingest_file(engine, path, subscriptions=subs)
    assert result.outcome.status == "ingested"
    assert result.deliveries == ()  # digests wait for their time


def messages(recorder: Recorder) -> dict[str, EmailMessage]:
    """What arrived, by recipient."""
    received = {}
    for envelope in recorder.envelopes:
        assert isinstance(envelope.original_content, bytes)
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        (to,) = envelope.rcpt_tos
        assert to not in received, f"{to} got two e-mails"
        received[to] = message
    return received


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def digest_rows(engine: sa.Engine) -> list[store.Delivery]:
    return [row for row in store.list_deliveries(engine, limit=1000) if row.kind == "digest"]


def test_two_dumps_before_eight_go_out_as_one_digest_each_at_eight(
    engine: sa.Engine, tmp_path: Path, serve: Any
) -> None:
    recorder = Recorder()
    port = serve(recorder)
    with time_machine.travel(at(7), tick=True) as clock:
        subs = pipeline.prepare_subscriptions(engine, SUBSCRIPTIONS)
        with Stack(engine, subs, port) as stack:
            clock.move_to(at(7, 10))
            ingest(engine, tmp_path, "a.txt", [("Tiny Students", KD), ("Graph Things", GRAPHS)])
            clock.move_to(at(7, 40))
            ingest(engine, tmp_path, "b.txt", [("Both Worlds", KD + GRAPHS)])
            assert stack.scheduler.next_fires()["kd"] == at(8)
            assert recorder.envelopes == []
            clock.move_to(at(7, 59, 59.5))
            stack.scheduler.wakeup()
            wait_for(lambda: len(recorder.envelopes) == 2, timeout=20)
            wait_for(lambda: all(r.status == "sent" for r in digest_rows(engine)), timeout=10)
            sent_at = datetime.now(UTC)
        received = messages(recorder)
    assert sorted(received) == ["graphs@example.org", "kd@example.org"]  # nothing for "nothing"
    assert sent_at >= at(8)
    kd = text_of(received["kd@example.org"])
    assert "Tiny Students" in kd
    assert "Both Worlds" in kd
    assert "Graph Things" not in kd
    assert received["kd@example.org"]["Subject"] == "[feedd] 2 new papers: Distillation"
    graphs = text_of(received["graphs@example.org"])
    assert "Graph Things" in graphs
    assert "Both Worlds" in graphs
    assert "Tiny Students" not in graphs
    rows = digest_rows(engine)
    assert sorted(r.channel for r in rows) == ["email:graphs@example.org", "email:kd@example.org"]
    assert {r.subscription_name for r in rows} == {"kd", "graphs"}


def test_an_empty_window_sends_nothing(engine: sa.Engine, tmp_path: Path, serve: Any) -> None:
    recorder = Recorder()
    port = serve(recorder)
    with time_machine.travel(at(7), tick=True) as clock:
        subs = pipeline.prepare_subscriptions(engine, SUBSCRIPTIONS)
        with Stack(engine, subs, port) as stack:
            ingest(engine, tmp_path, "a.txt", [("Tiny Students", KD)])
            clock.move_to(at(7, 59, 59.5))
            stack.scheduler.wakeup()
            wait_for(lambda: len(recorder.envelopes) == 1, timeout=20)
            # The windows of all three closed at 08:00; only "kd" had papers.
            wait_for(
                lambda: all(
                    (store.digest_delivered_until(engine, key) or at(0)) >= at(8)
                    for key in subs.by_id
                ),
                timeout=10,
            )
    assert list(messages(recorder)) == ["kd@example.org"]
    assert [r.channel for r in digest_rows(engine)] == ["email:kd@example.org"]


def test_a_digest_due_while_down_goes_out_once_at_start_up(
    engine: sa.Engine, tmp_path: Path, serve: Any
) -> None:
    recorder = Recorder()
    port = serve(recorder)
    with time_machine.travel(at(7), tick=True) as clock:
        subs = pipeline.prepare_subscriptions(engine, SUBSCRIPTIONS)
        with Stack(engine, subs, port):
            ingest(engine, tmp_path, "a.txt", [("Tiny Students", KD), ("Graph Things", GRAPHS)])
            clock.move_to(at(7, 30))
        # Stopped over 08:00; started again at 09:00.
        clock.move_to(at(9))
        with Stack(engine, subs, port) as stack:
            wait_for(lambda: len(recorder.envelopes) == 2, timeout=20)
            wait_for(lambda: all(r.status == "sent" for r in digest_rows(engine)), timeout=10)
            assert stack.scheduler.next_fires()["kd"] == at(8).replace(day=24)
        # Started once more: that window is delivered; nothing goes out twice.
        clock.move_to(at(9, 5))
        with Stack(engine, subs, port):
            pass
    assert sorted(messages(recorder)) == ["graphs@example.org", "kd@example.org"]
    assert len(digest_rows(engine)) == 2


def test_every_schedules_keep_their_cadence_across_restarts(
    engine: sa.Engine, tmp_path: Path, serve: Any
) -> None:
    subscriptions = [
        SubscriptionSettings(
            name="kd", query='"knowledge distillation"', schedule="every 30m", email_to=["a@b.org"]
        )
    ]
    port = serve(Recorder())
    with time_machine.travel(at(7), tick=True) as clock:
        subs = pipeline.prepare_subscriptions(engine, subscriptions)
        with Stack(engine, subs, port) as stack:
            first = stack.scheduler.next_fires()["kd"]
        clock.move_to(at(7, 10))
        with Stack(engine, subs, port) as stack:
            assert stack.scheduler.next_fires()["kd"] == first
    assert at(7, 30) <= first < at(7, 30, 1)


def test_an_immediate_subscription_has_no_window_and_starts_afresh_as_a_digest(
    engine: sa.Engine, tmp_path: Path, serve: Any
) -> None:
    port = serve(Recorder())
    digest = SUBSCRIPTIONS[0]
    immediate = digest.model_copy(update={"schedule": "immediate"})
    with time_machine.travel(at(7), tick=True) as clock:
        subs = pipeline.prepare_subscriptions(engine, [digest])
        with Stack(engine, subs, port):
            pass
        (key,) = subs.by_id
        assert store.digest_delivered_until(engine, key) is not None
        clock.move_to(at(12))
        subs = pipeline.prepare_subscriptions(engine, [immediate])
        with Stack(engine, subs, port):
            pass
        assert store.digest_delivered_until(engine, key) is None
