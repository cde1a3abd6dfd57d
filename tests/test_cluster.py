"""Three ``feedd run`` processes on one PostgreSQL database and one inbox: exactly one leads,
another takes over when it is killed, and every webhook delivery reaches the receiver, once
each while nobody dies, and none missing when one process is killed mid-way."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import _fresh_postgres_database
from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_daemon import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "whsec_" + base64.b64encode(b"feedd-cluster-secret-0123456789ab").decode()
SUBSCRIPTIONS = 250  # x 20 dumps of one matching paper = 5,000 deliveries
DUMPS = 20
ABSTRACT = "We propose a zebrafinch method for learning with zebrafinch models, measured. " * 2


class CountingReceiver:
    """Accepts every call at once and counts each webhook-id (signatures are checked elsewhere;
    here the receiver must keep up with three senders)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.seen[self.headers["webhook-id"]] += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def distinct(self) -> int:
        with self.lock:
            return len(self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_postgres_database()


@pytest.fixture
def receiver() -> Iterator[CountingReceiver]:
    r = CountingReceiver()
    yield r
    r.close()


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_url: str, receiver: CountingReceiver
) -> Iterator[list[Daemon]]:
    inbox = tmp_path / "inbox"
    extra = (
        "[delivery]\nallow_private_targets = true\nlease_seconds = 5\n"
        f'[webhooks.hook]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
    ) + "".join(
        f'[[subscriptions]]\nname = "s{n}"\nquery = "zebrafinch"\nwebhooks = ["hook"]\n'
        for n in range(SUBSCRIPTIONS)
    )
    daemons = []
    for n in range(3):
        workdir = tmp_path / f"p{n}"
        workdir.mkdir()
        d = Daemon(workdir, postgres_url, extra)
        config = d.config.read_text().replace('path = "inbox"', f'path = "{inbox}"')
        d.config.write_text(config.replace('[feeds]\noutput_dir = "public"\n', ""))
        d.inbox = inbox
        daemons.append(d)
    for d in daemons:
        d.start()
    try:
        yield daemons
    finally:
        for d in daemons:
            if d.running():
                d.stop()
        for n, d in enumerate(daemons):
            print(f"--- process {n}\n" + "".join(d.lines[-60:]))


def roles(daemons: list[Daemon]) -> list[str]:
    found = []
    for d in daemons:
        if not d.running():
            found.append("dead")
            continue
        try:
            found.append(str(httpx.get(f"{d.url}/healthz", timeout=5).json()["role"]))
        except httpx.HTTPError:
            found.append("unreachable")
    return found


def drop_dumps(inbox: Path, prefix: str) -> None:
    for n in range(DUMPS):
        page = HEADER + "byAK and the research community\n\nOct 28\n\n"
        page += entry(f"{prefix} zebrafinch study {n}", ABSTRACT)
        staged = inbox / f".{prefix}-{n}.part"
        staged.write_text(page)
        staged.rename(inbox / f"{prefix}-{n}.txt")


def delivery_ids(postgres_url: str) -> set[str]:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT delivery_id FROM deliveries")).scalars())
    finally:
        engine.dispose()


def sent_by(d: Daemon) -> int:
    return d.logged("Delivered")


def test_one_leader_takes_over_and_every_delivery_arrives(
    cluster: list[Daemon], receiver: CountingReceiver, postgres_url: str
) -> None:
    wait_for(lambda: sorted(roles(cluster)) == ["follower", "follower", "leader"], timeout=20)

    # 5,000 deliveries, nobody killed: each arrives exactly once, sent by all three processes.
    drop_dumps(cluster[0].inbox, "a")
    wait_for(lambda: len(delivery_ids(postgres_url)) == SUBSCRIPTIONS * DUMPS, timeout=120)
    wait_for(lambda: receiver.distinct() == SUBSCRIPTIONS * DUMPS, timeout=180)
    assert set(receiver.seen) == delivery_ids(postgres_url)
    assert max(receiver.seen.values()) == 1
    assert all(sent_by(d) > 0 for d in cluster), [sent_by(d) for d in cluster]

    # The leader dies: another leads within 15 s, and ingest goes on.
    leader = cluster[roles(cluster).index("leader")]
    leader.kill()
    wait_for(lambda: roles(cluster).count("leader") == 1, timeout=15)
    survivors = [d for d in cluster if d.running()]

    # 5,000 more, and one of the two left is killed mid-way: none is missing.
    drop_dumps(cluster[0].inbox, "b")
    expected = SUBSCRIPTIONS * DUMPS * 2
    wait_for(lambda: receiver.distinct() >= SUBSCRIPTIONS * DUMPS + 1000, timeout=180)
    victim = next(d for d in survivors if roles([d]) == ["follower"])
    victim.kill()
    wait_for(lambda: len(delivery_ids(postgres_url)) == expected, timeout=120)
    wait_for(lambda: receiver.distinct() == expected, timeout=180)
    assert set(receiver.seen) == delivery_ids(postgres_url)
    assert roles(cluster).count("leader") == 1
