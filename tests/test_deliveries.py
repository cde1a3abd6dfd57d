"""Immediate webhook deliveries end to end: a running daemon, a real receiver on 127.0.0.1 that
verifies every call with the standardwebhooks library."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_cli import feedd
from tests.test_daemon import Daemon

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(b"feedd-test-secret-0123456789abcdef").decode()
KD = "We compress a teacher into a student with knowledge distillation, carefully. " * 3
GRAPHS = "We study message passing on graphs with many nodes and edges, at length. " * 3


class Receiver:
    """Answers with the statuses queued in ``script`` (then 200) and records verified calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.ids: list[str] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                payload = Webhook(SECRET).verify(body, dict(self.headers.items()))
                with receiver.lock:
                    receiver.calls.append(payload)
                    receiver.ids.append(self.headers["webhook-id"])
                    status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def daemon(tmp_path: Path, receiver: Receiver) -> Iterator[Daemon]:
    d = Daemon(
        tmp_path,
        f"sqlite:///{tmp_path / 'feedd.db'}",
        '[delivery]\nallow_private_targets = true\nretry_schedule = ["0.3s", "0.3s", "0.3s"]\n'
        f'[webhooks.hook]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\ntimeout_seconds = 5\n'
        '[[subscriptions]]\nname = "kd"\nquery = \'"knowledge distillation"\'\n'
        'webhooks = ["hook"]\n'
        '[[subscriptions]]\nname = "graphs"\nquery = "graphs"\nwebhooks = ["hook"]\n'
        '[[subscriptions]]\nname = "nothing"\nquery = "zebrafish"\nwebhooks = ["hook"]\n',
    )
    d.start()
    try:
        yield d
    finally:
        if d.running():
            d.stop()
        print("".join(d.lines))


def drop(daemon: Daemon, name: str, papers: list[tuple[str, str]]) -> None:
    page = HEADER + "byAK and the research community\n\nOct 28\n\n"
    page += "".join(entry(title, abstract) for title, abstract in papers)
    staged = daemon.workdir / f"{name}.staged"
    staged.write_text(page)
    staged.rename(daemon.inbox / name)


def deliveries(daemon: Daemon) -> list[dict[str, object]]:
    result = feedd(
        "deliveries", "list", "--json", "--config", str(daemon.config), cwd=daemon.workdir
    )
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_one_verified_call_per_subscription_with_matches(
    daemon: Daemon, receiver: Receiver
) -> None:
    drop(
        daemon,
        "a.txt",
        [("Tiny Students", KD), ("Graph Things", GRAPHS), ("Both Worlds", KD + GRAPHS)],
    )
    wait_for(lambda: len(receiver.calls) == 2, timeout=20)
    by_name = {call["subscription"]["name"]: call for call in receiver.calls}  # type: ignore[index]
    assert sorted(by_name) == ["graphs", "kd"]
    kd_titles = sorted(p["title"] for p in by_name["kd"]["papers"])  # type: ignore[index]
    assert kd_titles == ["Both Worlds", "Tiny Students"]
    graph_titles = sorted(p["title"] for p in by_name["graphs"]["papers"])  # type: ignore[index]
    assert graph_titles == ["Both Worlds", "Graph Things"]
    assert by_name["kd"]["type"] == "papers.matched"
    assert by_name["kd"]["delivery_id"] == receiver.ids[receiver.calls.index(by_name["kd"])]
    assert str(by_name["kd"]["subscription"]["feed_url"]).endswith("/feeds/kd.rss")  # type: ignore[index]
    wait_for(lambda: all(d["status"] == "sent" for d in deliveries(daemon)), timeout=10)
    assert len(receiver.calls) == 2


def test_retries_keep_the_delivery_id_and_refusals_are_final(
    daemon: Daemon, receiver: Receiver
) -> None:
    receiver.script = [(503, {}), (503, {}), (200, {})]
    drop(daemon, "a.txt", [("Tiny Students", KD)])
    wait_for(lambda: len(receiver.calls) == 3, timeout=20)
    assert len(set(receiver.ids)) == 1
    wait_for(lambda: [d["status"] for d in deliveries(daemon)] == ["sent"], timeout=10)
    [row] = deliveries(daemon)
    assert row["attempts"] == 3

    receiver.script = [(400, {})]
    drop(daemon, "b.txt", [("Graph Things", GRAPHS)])
    wait_for(lambda: "dead" in [d["status"] for d in deliveries(daemon)], timeout=20)
    dead = next(d for d in deliveries(daemon) if d["status"] == "dead")
    assert dead["attempts"] == 1
    assert "400" in str(dead["last_error"])
    assert len(receiver.calls) == 4

    retried = feedd(
        "deliveries",
        "retry",
        str(dead["delivery_id"]),
        "--config",
        str(daemon.config),
        cwd=daemon.workdir,
    )
    assert retried.returncode == 0, retried.stderr
    wait_for(lambda: len(receiver.calls) == 5, timeout=20)
    assert receiver.ids[-1] == dead["delivery_id"]
    wait_for(lambda: all(d["status"] == "sent" for d in deliveries(daemon)), timeout=10)


def test_a_receiver_that_hangs_holds_up_no_other_delivery(
    tmp_path: Path, receiver: Receiver
) -> None:
    release = threading.Event()
    hung: list[str] = []

    class Hangs(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            hung.append(self.headers["webhook-id"])
            release.wait(30)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stuck = ThreadingHTTPServer(("127.0.0.1", 0), Hangs)
    stuck.daemon_threads = True
    threading.Thread(target=stuck.serve_forever, daemon=True).start()
    stuck_url = f"http://127.0.0.1:{stuck.server_address[1]}/hook"
    # Fewer workers than the hanging calls, and a dump with many deliveries to each receiver:
    # rows claimed ahead must not wait behind the hanging sends either.
    subscriptions = "".join(
        f'[[subscriptions]]\nname = "{kind}{n}"\nquery = "graphs"\nwebhooks = ["{kind}"]\n'
        for n in range(6)
        for kind in ("stuck", "hook")
    )
    d = Daemon(
        tmp_path,
        f"sqlite:///{tmp_path / 'feedd.db'}",
        "[delivery]\nallow_private_targets = true\nworkers = 4\n"
        f'[webhooks.hook]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
        f'[webhooks.stuck]\nurl = "{stuck_url}"\nsecret = "{SECRET}"\ntimeout_seconds = 30\n'
        + subscriptions,
    )
    d.start()
    try:
        drop(d, "a.txt", [("Graph Things", GRAPHS)])
        wait_for(lambda: len(receiver.calls) == 6, timeout=20)
        names = sorted(call["subscription"]["name"] for call in receiver.calls)  # type: ignore[index]
        assert names == [f"hook{n}" for n in range(6)]
        assert 1 <= len(hung) <= 3  # three of the four workers at most, the fourth left free
    finally:
        release.set()
        d.stop()
        stuck.shutdown()
        stuck.server_close()
        print("".join(d.lines))
