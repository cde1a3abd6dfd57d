"""Webhook delivery: latency from a complete dump in the inbox to the verified call, and the
rate of deliveries to a fast local receiver.

    python benchmarks/deliver.py [--drops 50] [--fanout 200] [--dumps 10]

Starts a real ``feedd run`` (SQLite, default settle_seconds) and a receiver on 127.0.0.1 that
verifies every call with the standardwebhooks library.
- Latency: ``--drops`` dumps, each with one new matching paper, written straight into the inbox
  one after another; the time from the writer closing the file to the verified call arriving.
- Rate: ``--fanout`` immediate subscriptions that all match, ``--dumps`` dumps dropped at once
  (fanout x dumps deliveries); deliveries per second from the first call to the last.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.dumpgen import HEADER, entry  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"feedd-benchmark-secret-0123456789").decode()
ABSTRACT = "We propose a zebrafinch method for learning with zebrafinch models, measured. " * 3


class Receiver:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, object]]] = []
        self.lock = threading.Lock()
        verifier = Webhook(SECRET)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                payload = verifier.verify(body, dict(self.headers.items()))
                with receiver.lock:
                    receiver.arrivals.append((time.perf_counter(), payload))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def settings(receiver: Receiver, fanout: int) -> str:
    text = (
        '[http]\nlisten = "127.0.0.1:0"\n'
        "[delivery]\nallow_private_targets = true\n"
        f'[webhooks.bench]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
    )
    for n in range(fanout):
        text += f'[[subscriptions]]\nname = "s{n}"\nquery = "zebrafinch"\nwebhooks = ["bench"]\n'
    return text


def start(work: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feedd", "run", "--config", "settings.toml"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert daemon.stdout is not None
    for line in daemon.stdout:
        if "feedd is running" in line:
            threading.Thread(target=daemon.stdout.read, daemon=True).start()  # keep draining
            return daemon
    raise SystemExit("feedd did not start")


def dump_text(titles: list[str]) -> str:
    body = "".join(entry(title, ABSTRACT) for title in titles)
    return HEADER + "byAK and the research community\n\nOct 28\n\n" + body


def wait_until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for deliveries")
        time.sleep(0.002)


def latency(work: Path, receiver: Receiver, drops: int) -> list[float]:
    seconds = []
    for n in range(drops):
        before = receiver.count()
        with (work / "inbox" / f"latency-{n}.txt").open("w") as handle:
            handle.write(dump_text([f"Zebrafinch latency paper {n}"]))
        complete = time.perf_counter()
        wait_until(lambda before=before: receiver.count() > before, 30)
        seconds.append(receiver.arrivals[before][0] - complete)
    return seconds


def rate(work: Path, receiver: Receiver, dumps: int, fanout: int) -> tuple[int, float]:
    before = receiver.count()
    for n in range(dumps):
        staged = work / f"rate-{n}.staged"
        staged.write_text(dump_text([f"Zebrafinch rate paper {n}"]))
        staged.rename(work / "inbox" / f"rate-{n}.txt")
    expected = before + dumps * fanout
    wait_until(lambda: receiver.count() >= expected, 300)
    times = [t for t, _ in receiver.arrivals[before:]]
    return len(times), max(times) - min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--dumps", type=int, default=10)
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="feedd-deliver-") as tmp:
        work = Path(tmp)
        (work / "settings.toml").write_text(settings(receiver, 1))
        daemon = start(work)
        try:
            seconds = sorted(latency(work, receiver, args.drops))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        (work / "settings.toml").write_text(settings(receiver, args.fanout))
        daemon = start(work)
        try:
            count, span = rate(work, receiver, args.dumps, args.fanout)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    p95 = seconds[max(0, round(0.95 * len(seconds)) - 1)]
    print(
        f"latency over {len(seconds)} drops: p50 {statistics.median(seconds) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
    print(
        f"rate: {count} deliveries in {span:.2f} s = {count / span:,.0f} deliveries/s "
        f"({args.fanout} subscriptions x {args.dumps} dumps, default [delivery] workers)"
    )
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
