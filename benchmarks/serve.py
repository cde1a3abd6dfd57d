"""Feed serving: requests/s for a 50-entry feed answered 200 and 304, feedd beside nginx.

    python benchmarks/serve.py [--seconds 10] [--connections 50]

Starts a real ``feedd run`` on 127.0.0.1 (SQLite, the five example dumps ingested, the feed of
every paper at its default 50 entries), writes the same feed as a static file with
``feedd feeds build`` and serves it with nginx, then drives both with wrk (50 keep-alive
connections, 10 s each): a plain GET (200) and a GET with the feed's ETag (304). Needs Debian's
wrk and nginx (``apt-get install wrk nginx-light``); prints the figures and the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DUMPS = REPO.parent / "shared" / "dumps"
FEED = "/feeds/all.rss"

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ application/rss+xml rss; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        etag on;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def feedd(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "feedd", *args], cwd=cwd, check=True, env=clean_env())


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}


def etag_of(url: str) -> str:
    with urllib.request.urlopen(url) as response:
        response.read()
        return str(response.headers["ETag"])


def wrk(url: str, seconds: int, connections: int, etag: str | None = None) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if etag:
        command[1:1] = ["-H", f"If-None-Match: {etag}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    statuses = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if statuses:
        raise SystemExit(f"{url}: {statuses[1]} error responses\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found[1])


def start_feedd(work: Path, port: int) -> subprocess.Popen[str]:
    (work / "settings.toml").write_text(f'[http]\nlisten = "127.0.0.1:{port}"\n')
    feedd("ingest", "--config", "settings.toml", *map(str, sorted(DUMPS.glob("*.txt"))), cwd=work)
    feedd("feeds", "build", "--config", "settings.toml", "--output", "public", cwd=work)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "feedd", "run", "--config", "settings.toml"],
        cwd=work,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            etag_of(f"http://127.0.0.1:{port}{FEED}")
            return daemon
        except OSError:
            time.sleep(0.1)
    daemon.kill()
    raise SystemExit("feedd did not start")


def start_nginx(work: Path, port: int) -> subprocess.Popen[bytes]:
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=work, port=port, root=work / "public"))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            etag_of(f"http://127.0.0.1:{port}{FEED}")
            return process
        except OSError:
            time.sleep(0.05)
    process.terminate()  # SIGTERM: the master takes its workers with it (SIGKILL would not)
    process.wait(timeout=10)
    raise SystemExit(f"nginx did not serve {FEED}; see {work}/nginx-error.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk") or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        raise SystemExit("needs wrk and nginx: apt-get install wrk nginx-light")
    with tempfile.TemporaryDirectory(prefix="feedd-serve-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers run as nobody and must read the static feed
        feedd_port, nginx_port = free_port(), free_port()
        daemon = start_feedd(work, feedd_port)
        try:
            nginx = start_nginx(work, nginx_port)
        except BaseException:
            daemon.terminate()
            daemon.wait(timeout=30)
            raise
        try:
            results = {}
            for name, port in (("feedd", feedd_port), ("nginx", nginx_port)):
                url = f"http://127.0.0.1:{port}{FEED}"
                results[(name, 200)] = wrk(url, args.seconds, args.connections)
                results[(name, 304)] = wrk(url, args.seconds, args.connections, etag_of(url))
        finally:
            daemon.terminate()
            nginx.terminate()
            daemon.wait(timeout=30)
            nginx.wait(timeout=10)
    for status in (200, 304):
        ours, theirs = results[("feedd", status)], results[("nginx", status)]
        print(
            f"{status}: feedd {ours:>9,.0f} req/s   nginx {theirs:>9,.0f} req/s   "
            f"feedd/nginx = {ours / theirs:.0%}"
        )
    print(f"({args.connections} keep-alive connections, {args.seconds} s each, wrk -t2)")


if __name__ == "__main__":
    main()
