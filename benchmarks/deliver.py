"""Webhook delivery: latency from a complete dump in the inbox to the verified call, and the
rate of deliveries to a fast local receiver.

    python benchmarks/deliver.py [--drops 50] [--fanout 200] [--dumps 10] [--database-url URL]

Starts a real ``feedd run`` (SQLite in a temporary folder unless ``--database-url`` names an
empty database; default settings otherwise) and a receiver on 127.0.0.1 that verifies every
call with the standardwebhooks library (HTTP/1.1 keep-alive, a thread per connection).
- Latency: ``--drops`` dumps, each with one new matching paper, written straight into the inbox
  one after another; the time from the writer closing the file to the verified call arriving.
- Rate: ``--fanout`` immediate subscriptions that all match, ``--dumps`` dumps dropped at once
  (fanout x dumps deliveries); deliveries per second from the first call to the last. Failed
  attempts (retried after 5 s, so they stretch the span) are counted from the daemon's log.
- CPU: the seconds of CPU the daemon and this process (the receiver) used during the rate run,
  to tell whether feedd or the receiver is the ceiling.
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


class Daemon:
    def __init__(self, work: Path, database_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
        env["FEEDD_STORAGE__DATABASE_URL"] = database_url
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "feedd", "run", "--config", "settings.toml"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "feedd is running" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise SystemExit("feedd did not start:\n" + "".join(self.lines))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the daemon so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def failures(self) -> int:
        return sum("Unable to deliver" in line or "Delivery is dead" in line for line in self.lines)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


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


def rate(work: Path, receiver: Receiver, daemon: Daemon, dumps: int, fanout: int) -> str:
    before = receiver.count()
    cpu_daemon, cpu_here = daemon.cpu_seconds(), time.process_time()
    for n in range(dumps):
        staged = work / f"rate-{n}.staged"
        staged.write_text(dump_text([f"Zebrafinch rate paper {n}"]))
        staged.rename(work / "inbox" / f"rate-{n}.txt")
    expected = before + dumps * fanout
    wait_until(lambda: receiver.count() >= expected, 300)
    cpu_daemon, cpu_here = daemon.cpu_seconds() - cpu_daemon, time.process_time() - cpu_here
    times = [t for t, _ in receiver.arrivals[before:]]
    count, span = len(times), max(times) - min(times)
    return (
        f"rate: {count} deliveries in {span:.2f} s = {count / span:,.0f} deliveries/s "
        f"({fanout} subscriptions x {dumps} dumps, default [delivery] settings); "
        f"failed attempts {daemon.failures()}; CPU s: feedd {cpu_daemon:.1f} "
        f"(ingest included), receiver {cpu_here:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--dumps", type=int, default=10)
    parser.add_argument(
        "--database-url", help="an empty database to use instead of a new SQLite file"
    )
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="feedd-deliver-") as tmp:
        work = Path(tmp)
        database_url = args.database_url or f"sqlite:///{work / 'feedd.db'}"
        (work / "settings.toml").write_text(settings(receiver, 1))
        daemon = Daemon(work, database_url)
        try:
            seconds = sorted(latency(work, receiver, args.drops))
        finally:
            daemon.stop()
        (work / "settings.toml").write_text(settings(receiver, args.fanout))
        daemon = Daemon(work, database_url)
        try:
            rate_line = rate(work, receiver, daemon, args.dumps, args.fanout)
        finally:
            daemon.stop()
    p95 = seconds[max(0, round(0.95 * len(seconds)) - 1)]
    print(
        f"latency over {len(seconds)} drops: p50 {statistics.median(seconds) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
    print(rate_line)
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
