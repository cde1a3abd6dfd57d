"""feedd.sdnotify against a real AF_UNIX datagram socket the test owns (path and abstract)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedd.sdnotify import Notifier, WatchdogPinger, start_watchdog, watchdog_interval
from tests.helpers import wait_for
from tests.notify_socket import NotifySocket


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest) -> Iterator[NotifySocket]:
    with NotifySocket(abstract=request.param == "abstract") as sock:
        yield sock


@pytest.fixture
def notifier(receiver: NotifySocket) -> Iterator[Notifier]:
    with Notifier.from_environment({"NOTIFY_SOCKET": receiver.address}) as notifier:
        yield notifier


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def fields_of(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == message]


def test_without_notify_socket_everything_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environment({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval() is None  # nobody to ping
    assert notifier.ready(status="x") is False
    assert notifier.watchdog() is False
    assert start_watchdog(notifier, healthy=lambda: True) is None
    assert caplog.records == []


def test_every_message_arrives_as_one_datagram(receiver: NotifySocket) -> None:
    with Notifier(receiver.address, clock=lambda: 123_456_789_000) as notifier:  # ns
        send_everything(notifier)
    assert receiver.drain() == [
        {"READY": "1", "STATUS": "Watching /inbox with a newline"},
        {"STATUS": "3 subscriptions"},
        {"WATCHDOG": "1"},
        {"RELOADING": "1", "MONOTONIC_USEC": "123456789"},
        {"READY": "1"},
        {"EXTEND_TIMEOUT_USEC": "2500000"},
        {"STOPPING": "1", "STATUS": "SIGTERM"},
    ]


def send_everything(notifier: Notifier) -> None:
    assert notifier.enabled
    assert notifier.ready(status="Watching /inbox\nwith a newline")
    assert notifier.status("3 subscriptions")
    assert notifier.watchdog()
    assert notifier.reloading()
    assert notifier.ready()
    assert notifier.extend_timeout(2.5)
    assert notifier.stopping(status="SIGTERM")


def test_reloading_stamps_clock_monotonic_in_microseconds(
    receiver: NotifySocket, notifier: Notifier
) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    [message] = receiver.drain()
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),  # our pid in the test
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # inherited from a parent
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_PID": "4242"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_our_pid(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_from_environment_reads_the_watchdog_for_this_process(receiver: NotifySocket) -> None:
    env = {
        "NOTIFY_SOCKET": receiver.address,
        "WATCHDOG_USEC": "4000000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    with Notifier.from_environment(env) as notifier:
        assert notifier.watchdog_interval() == 2.0


def test_a_missing_socket_is_logged_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with NotifySocket() as receiver, Notifier(receiver.address) as notifier:
        assert notifier.ready()
        receiver.close()  # systemd's end is gone: the socket file disappears
        for _ in range(3):
            assert notifier.watchdog() is False
    assert warnings_of(caplog) == ["Unable to notify systemd"]
    assert fields_of(caplog, "Unable to notify systemd") == [
        {"address": receiver.address, "message": "WATCHDOG=1", "error": "No such file or directory"}
    ]


def test_sending_works_again_after_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    with NotifySocket() as receiver, Notifier(receiver.address) as notifier:
        path = receiver.sock.getsockname()
        receiver.sock.close()
        assert notifier.ready() is False
        assert notifier.ready() is False
        # systemd's end comes back at the same path
        receiver.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        Path(path).unlink()
        receiver.sock.bind(path)
        receiver.sock.setblocking(False)
        with caplog.at_level(logging.INFO, logger="feedd.sdnotify"):
            assert notifier.ready()
        assert receiver.count("READY") == 1
    assert warnings_of(caplog) == ["Unable to notify systemd"]
    assert "Notifying systemd works again" in caplog.messages


def test_an_address_that_is_not_af_unix_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert warnings_of(caplog) == [
        "NOTIFY_SOCKET is not an AF_UNIX socket address; systemd will not be notified"
    ]


def test_pinger_pings_every_interval_only_while_healthy(
    receiver: NotifySocket, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    # No clock: the injected wait records the pause asked for and ends the loop after 5 pauses.
    health = iter([True, True, False, False, True, True])
    pauses: list[float] = []

    def wait(seconds: float) -> bool:
        pauses.append(seconds)
        return len(pauses) > 5

    pinger = WatchdogPinger(notifier, 7.5, lambda: next(health), wait=wait)
    pinger.run()
    assert pauses == [7.5] * 6
    assert pinger.checks == 6
    assert receiver.count("WATCHDOG") == pinger.pings == 4
    assert warnings_of(caplog) == ["Unhealthy; systemd's watchdog is no longer pinged"]


def test_a_failing_health_check_withholds_the_ping(
    receiver: NotifySocket, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise RuntimeError("database gone")

    pinger = WatchdogPinger(notifier, 1.0, broken)
    pinger.beat()
    pinger.beat()
    assert pinger.checks == 2
    assert receiver.count("WATCHDOG") == 0
    message = "Unhealthy; systemd's watchdog is no longer pinged"
    assert warnings_of(caplog) == [message]  # once, not at every beat
    assert fields_of(caplog, message) == [
        {"error": "the health check raised RuntimeError: database gone"}
    ]


def test_pinger_thread_stops_pinging_when_unhealthy_and_resumes(
    receiver: NotifySocket, notifier: Notifier
) -> None:
    healthy = threading.Event()
    healthy.set()
    pinger = WatchdogPinger(notifier, 0.01, healthy.is_set)
    pinger.start()
    try:
        wait_for(lambda: receiver.count("WATCHDOG") >= 3)
        healthy.clear()
        # Two more checks: the beat that was in flight when the flag changed has finished.
        checks = pinger.checks
        wait_for(lambda: pinger.checks >= checks + 2)
        pings = receiver.count("WATCHDOG")
        checks = pinger.checks
        wait_for(lambda: pinger.checks >= checks + 5)
        assert receiver.count("WATCHDOG") == pings
        healthy.set()
        wait_for(lambda: receiver.count("WATCHDOG") >= pings + 3)
    finally:
        pinger.stop(timeout=10)
    assert not pinger.is_alive()


def test_start_watchdog_uses_the_interval_systemd_asked_for(receiver: NotifySocket) -> None:
    with Notifier(receiver.address, watchdog_seconds=0.01) as notifier:
        pinger = start_watchdog(notifier, healthy=lambda: True)
        assert pinger is not None
        try:
            assert pinger.interval == 0.01
            receiver.wait_for("WATCHDOG", times=2)
        finally:
            pinger.stop(timeout=10)
    assert not pinger.is_alive()
