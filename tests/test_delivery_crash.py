"""kill -9 during a burst of deliveries: after a restart every delivery reaches the receiver, and
only deliveries that were in flight at the kill may reach it twice."""

from __future__ import annotations

import base64
import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_daemon import Daemon

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(b"feedd-crash-secret-0123456789abcd").decode()
SUBSCRIPTIONS = 500  # one dump, one matching paper: one delivery per subscription
RECEIVER_SECONDS = 0.04  # slow enough that a dozen calls are in flight at any time
ABSTRACT = "We teach zebrafinch songs to a recurrent network and measure it, at length. " * 3


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the killed daemon's connections
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class SlowReceiver:
    """Verifies each call, records its delivery id, then takes RECEIVER_SECONDS to answer."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        verifier = Webhook(SECRET)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                verifier.verify(body, dict(self.headers.items()))
                with receiver.lock:
                    receiver.ids.append(self.headers["webhook-id"])
                time.sleep(RECEIVER_SECONDS)  # the receiver's own work
                with contextlib.suppress(OSError):  # the caller may have been killed
                    self.send_response(200)
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.ids)


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    r = SlowReceiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def outbox(database_url: str) -> dict[str, str]:
    """delivery id -> status, read straight from the database."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT delivery_id, status FROM deliveries"))
            return {str(delivery_id): str(status) for delivery_id, status in rows}
    finally:
        engine.dispose()


def test_kill_9_mid_delivery_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path, database_url: str, receiver: SlowReceiver
) -> None:
    subscriptions = "".join(
        f'[[subscriptions]]\nname = "s{n}"\nquery = "zebrafinch"\nwebhooks = ["hook"]\n'
        for n in range(SUBSCRIPTIONS)
    )
    daemon = Daemon(
        tmp_path,
        database_url,
        # A short lease, so the rows the killed process held come free within seconds.
        "[delivery]\nallow_private_targets = true\nlease_seconds = 5\n"
        f'[webhooks.hook]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\ntimeout_seconds = 5\n'
        + subscriptions,
    )
    # No static feeds: writing 2,000 feed files at start and after the ingest is another test's.
    daemon.config.write_text(daemon.config.read_text().replace('output_dir = "public"\n', ""))
    daemon.start()
    first_run: list[str] = []
    try:
        staged = tmp_path / "burst.staged"
        staged.write_text(
            HEADER + "byAK and the research community\n\nOct 28\n\n" + entry("Songs", ABSTRACT)
        )
        staged.rename(daemon.inbox / "burst.txt")
        wait_for(lambda: len(receiver.seen()) >= 100, timeout=60)
        daemon.kill()

        at_kill = outbox(database_url)
        in_flight = {i for i, status in at_kill.items() if status == "sending"}
        assert len(at_kill) == SUBSCRIPTIONS, "every delivery was queued with the matches"
        assert in_flight, "no delivery was in flight at the kill"
        assert Counter(at_kill.values())["sent"] < SUBSCRIPTIONS, "the kill came too late"

        first_run, daemon.lines = daemon.lines, []
        daemon.start()
        wait_for(lambda: set(outbox(database_url).values()) == {"sent"}, timeout=60)
    finally:
        if daemon.running():
            daemon.stop()
        print("".join([*first_run, "--- killed, restarted ---\n", *daemon.lines]))

    seen = Counter(receiver.seen())
    assert set(seen) == set(at_kill), "a delivery never reached the receiver"
    twice = {i for i, n in seen.items() if n > 1}
    assert twice <= in_flight, "a delivery not in flight at the kill was sent twice"
    print(f"in flight at the kill: {len(in_flight)}, received twice: {len(twice)}")
