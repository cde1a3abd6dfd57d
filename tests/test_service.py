"""``feedd run`` as a systemd service: the notify protocol (READY, WATCHDOG, RELOADING,
STOPPING) to a socket the test owns, SIGHUP reloads, and an orderly SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.notify_socket import NotifySocket
from tests.test_daemon import KD_SUBSCRIPTION, Daemon
from tests.test_deliveries import GRAPHS, KD, drop

pytestmark = pytest.mark.slow

GRAPHS_SUBSCRIPTION = '[[subscriptions]]\nname = "graphs"\nquery = "graphs"\n'


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    with NotifySocket() as sock:
        yield sock


@pytest.fixture
def service(tmp_path: Path, notify: NotifySocket) -> Iterator[Daemon]:
    d = Daemon(tmp_path, f"sqlite:///{tmp_path / 'feedd.db'}", KD_SUBSCRIPTION)
    d.env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"}  # ping every 0.5 s
    d.inbox.mkdir()
    for name in ("waiting-1.txt", "waiting-2.txt"):
        (d.inbox / name).write_text("not a dump, but a file the start-up scan must find\n")
    d.start()
    try:
        yield d
    finally:
        if d.running():
            d.stop()
        print("".join(d.lines))


def feed_titles(daemon: Daemon, name: str) -> list[str]:
    response = httpx.get(f"{daemon.url}/feeds/{name}.json")
    if response.status_code != 200:
        return []
    return [item["title"] for item in response.json()["items"]]


def test_ready_comes_after_the_start_up_scan_and_the_http_server(
    service: Daemon, notify: NotifySocket
) -> None:
    notify.wait_for("READY")
    (ready,) = [m for m in notify.drain() if m.get("READY") == "1"]
    assert "2 file(s) waiting at start-up" in ready["STATUS"]
    assert service.url.removeprefix("http://") in ready["STATUS"]
    assert httpx.get(f"{service.url}/healthz").json()["role"] == "leader"


def test_watchdog_pings_at_half_the_interval(service: Daemon, notify: NotifySocket) -> None:
    notify.wait_for("READY")
    notify.wait_for("WATCHDOG", times=4, timeout=20)
    # Four pings at 0.5 s take at least 1.5 s since the first; far fewer than one per 0.1 s.
    first = notify.count("WATCHDOG")
    wait_for(lambda: notify.count("WATCHDOG") >= first + 2, timeout=20)


def test_sighup_reloads_valid_settings_and_keeps_the_old_ones_otherwise(
    service: Daemon, notify: NotifySocket
) -> None:
    notify.wait_for("READY")
    good = service.config.read_text()
    # A new subscription: matched, fed and served after the reload, without a restart.
    service.config.write_text(good + GRAPHS_SUBSCRIPTION)
    assert service.proc is not None
    before = time.monotonic_ns() // 1000
    service.proc.send_signal(signal.SIGHUP)
    notify.wait_for("READY", times=2)
    reloading = [m for m in notify.drain() if m.get("RELOADING") == "1"]
    assert len(reloading) == 1
    assert int(reloading[0]["MONOTONIC_USEC"]) >= before
    messages = notify.drain()
    assert messages.index(reloading[0]) < max(
        i for i, m in enumerate(messages) if m.get("READY") == "1"
    )
    drop(service, "a.txt", [("Graph Things", GRAPHS), ("Tiny Students", KD)])
    wait_for(lambda: feed_titles(service, "graphs") == ["Graph Things"], timeout=20)

    # A broken file: logged in one line, the running settings stay in force.
    service.config.write_text(good + '[[subscriptions]]\nname = "bad"\nquery = "title:("\n')
    service.proc.send_signal(signal.SIGHUP)
    notify.wait_for("READY", times=3)
    wait_for(lambda: service.logged("Settings not reloaded"), timeout=10)
    (line,) = [line for line in service.lines if "Settings not reloaded" in line]
    assert "[[subscriptions]] 'bad' query" in line
    assert service.running()
    drop(service, "b.txt", [("More Graph Things", GRAPHS)])
    wait_for(lambda: "More Graph Things" in feed_titles(service, "graphs"), timeout=20)
    assert httpx.get(f"{service.url}/feeds/bad.json").status_code == 404


def test_sigterm_says_stopping_and_exits_zero_quickly(
    service: Daemon, notify: NotifySocket
) -> None:
    notify.wait_for("READY")
    assert service.proc is not None
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=10) == 0
    assert notify.count("STOPPING") == 1
