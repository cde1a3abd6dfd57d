"""``feedd run`` as a real process watching a real folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
import sqlalchemy as sa

from tests.dumpgen import synthetic_dump, write_dump
from tests.helpers import wait_for
from tests.test_cli import distinct_keys, feedd

pytestmark = pytest.mark.slow


KD_SUBSCRIPTION = '[[subscriptions]]\nname = "kd"\nquery = \'"knowledge distillation"\'\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    def __init__(self, workdir: Path, database_url: str, extra: str = KD_SUBSCRIPTION) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.inbox = workdir / "inbox"
        self.config = workdir / "settings.toml"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config.write_text(
            '[inbox]\npath = "inbox"\nrescan_seconds = 2\n'
            f'[http]\nlisten = "127.0.0.1:{self.port}"\n'
            '[feeds]\noutput_dir = "public"\n' + extra
        )
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.env: dict[str, str] = {}  # added to the environment of every start

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
        env["FEEDD_STORAGE__DATABASE_URL"] = self.database_url
        env.update(self.env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "feedd", "run", "--config", str(self.config)],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()
        wait_for(lambda: self.logged("feedd is running"), timeout=30)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                self.lines.append(line)

    def logged(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=5)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def inbox_files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir() if p.is_file())

    def folder(self, name: str) -> list[str]:
        """The files in inbox/<name>, without the dot-files of writes still in progress."""
        folder = self.inbox / name
        if not folder.exists():
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def daemon(tmp_path: Path, database_url: str) -> Iterator[Daemon]:
    d = Daemon(tmp_path, database_url)
    d.start()
    try:
        yield d
    finally:
        if d.running():
            d.stop()
        print("".join(d.lines))  # shown by pytest when the test failed


def stored_keys(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT key FROM papers")).scalars())
    finally:
        engine.dispose()


def test_dropped_dumps_are_stored_and_archived(
    daemon: Daemon, tmp_path: Path, example_dumps: list[Path]
) -> None:
    for dump in example_dumps:
        shutil.copy(dump, daemon.inbox / dump.name)

    slow_text = synthetic_dump(40, prefix="Slowly written paper").encode()
    chunk = len(slow_text) // 10 + 1
    with (daemon.inbox / "slow.txt").open("wb") as handle:
        for start in range(0, len(slow_text), chunk):
            handle.write(slow_text[start : start + chunk])
            handle.flush()
            time.sleep(0.3)  # the writer's pace: ten chunks over three seconds

    staged = write_dump(tmp_path / "staged.txt", 25, prefix="Moved in paper")
    os.rename(staged, daemon.inbox / "moved.txt")

    expected = distinct_keys(example_dumps) | {f"slowly written paper {n}" for n in range(40)}
    expected |= {f"moved in paper {n}" for n in range(25)}
    wait_for(lambda: set(stored_keys(daemon.database_url)) == expected, timeout=30)
    keys = stored_keys(daemon.database_url)
    assert len(keys) == len(set(keys))
    wait_for(lambda: daemon.inbox_files() == [], timeout=10)
    assert daemon.folder("archive") == sorted(
        [d.name for d in example_dumps] + ["slow.txt", "moved.txt"]
    )
    assert daemon.folder("rejected") == []

    # The subscription's feed, served by the running daemon, lists what matched.
    feed = feedparser.parse(httpx.get(f"{daemon.url}/feeds/kd.rss", timeout=10).content)
    assert feed.bozo == 0
    titles = {entry.title for entry in feed.entries}
    assert any(title.startswith("PCoreSet: Effective Active Learning") for title in titles)
    assert all("distillation" in (e.title + e.summary).lower() for e in feed.entries)
    # ... and the same feed is written as a static file after the ingest (on its own thread).
    static = tmp_path / "public" / "feeds" / "kd.rss"
    wait_for(
        lambda: {e.title for e in feedparser.parse(static.read_bytes()).entries} == titles,
        timeout=20,
    )
    health = httpx.get(f"{daemon.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["ok"] is True
    assert {"database", "watcher", "delivery"} <= set(health.json())

    assert daemon.stop() == 0
    assert daemon.logged("feedd stopped") == 1


def test_bad_files_are_rejected_with_a_reason_and_the_daemon_carries_on(
    daemon: Daemon, example_dumps: list[Path]
) -> None:
    (daemon.inbox / "image.png").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    )
    (daemon.inbox / "empty.txt").write_bytes(b"")
    (daemon.inbox / "essay.txt").write_text(
        "Notes from the conference\n\nThe keynote was long and the coffee was cold.\n\n" * 10
    )
    expected = sorted(
        [
            "image.png",
            "image.png.error.txt",
            "empty.txt",
            "empty.txt.error.txt",
            "essay.txt",
            "essay.txt.error.txt",
        ]
    )
    wait_for(lambda: daemon.folder("rejected") == expected, timeout=20)
    for name in ("image.png", "empty.txt", "essay.txt"):
        reason = (daemon.inbox / "rejected" / f"{name}.error.txt").read_text()
        assert name in reason
        assert len(reason.splitlines()[1]) > 10  # the reason itself, in words
    assert daemon.running()

    shutil.copy(example_dumps[0], daemon.inbox / example_dumps[0].name)
    wait_for(lambda: daemon.folder("archive") == [example_dumps[0].name], timeout=20)
    listed = feedd(
        "papers",
        "list",
        "--json",
        "--limit",
        "500",
        cwd=daemon.workdir,
        database_url=daemon.database_url,
    )
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 69
    assert daemon.running()


def test_kill_9_during_a_large_ingest_loses_and_doubles_nothing(
    daemon: Daemon, tmp_path: Path
) -> None:
    count = 60_000
    staged = write_dump(tmp_path / "large.txt", count, prefix="Large dump paper")
    os.rename(staged, daemon.inbox / "large.txt")
    wait_for(lambda: daemon.logged("Ingesting dump"), timeout=20)
    time.sleep(0.3)  # let the transaction get under way, then pull the plug
    daemon.kill()
    assert daemon.inbox_files() == ["large.txt"], "the kill came after the ingest finished"
    assert stored_keys(daemon.database_url) == []  # the half-done transaction left nothing

    daemon.start()
    wait_for(lambda: daemon.folder("archive") == ["large.txt"], timeout=90)
    keys = stored_keys(daemon.database_url)
    assert len(keys) == count
    assert len(set(keys)) == count
    assert daemon.inbox_files() == []
    assert daemon.folder("rejected") == []
