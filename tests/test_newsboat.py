"""A real feed reader, newsboat, subscribed to a running daemon's feed."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dumpgen import HEADER, entry
from tests.helpers import wait_for
from tests.test_daemon import Daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("newsboat") is None,
        reason="newsboat is not installed (apt-get install newsboat; .ci/run does)",
    ),
]

KD_ABSTRACT = "We compress a teacher into a student with knowledge distillation and more. " * 3


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path, f"sqlite:///{tmp_path / 'feedd.db'}")
    d.start()
    try:
        yield d
    finally:
        if d.running():
            d.stop()
        print("".join(d.lines))


class Newsboat:
    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        home.mkdir()
        (home / "urls").write_text(url + "\n")
        self.cache = home / "cache.db"

    def reload(self) -> str:
        result = subprocess.run(
            ["newsboat", "-u", "urls", "-c", "cache.db", "-C", "/dev/null", "-x", "reload"],
            cwd=self.home,
            env={"HOME": str(self.home), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def items(self, *, unread_only: bool = False) -> list[str]:
        with sqlite3.connect(self.cache) as conn:
            where = "WHERE unread = 1" if unread_only else ""
            rows = conn.execute(f"SELECT title FROM rss_item {where} ORDER BY title").fetchall()
        conn.close()
        return [title for (title,) in rows]

    def mark_all_read(self) -> None:
        with sqlite3.connect(self.cache) as conn:
            conn.execute("UPDATE rss_item SET unread = 0")
        conn.close()


def drop(daemon: Daemon, name: str, titles: list[str]) -> None:
    body = "".join(entry(title, KD_ABSTRACT) for title in titles)
    page = HEADER + "byAK and the research community\n\nOct 28\n\n" + body
    staged = daemon.workdir / f"{name}.staged"
    staged.write_text(page)
    staged.rename(daemon.inbox / name)
    wait_for(lambda: name in daemon.folder("archive"), timeout=20)


def test_newsboat_sees_the_matches_and_only_new_ones_as_new(daemon: Daemon, tmp_path: Path) -> None:
    reader = Newsboat(tmp_path / "reader", f"{daemon.url}/feeds/kd.rss")
    first = ["Distilling Giants", "Small Students Learn Fast"]
    drop(daemon, "one.txt", first)
    reader.reload()
    assert reader.items() == sorted(first)
    reader.mark_all_read()

    second = ["A Third Distillation Paper"]
    drop(daemon, "two.txt", second)
    reader.reload()
    assert reader.items(unread_only=True) == second
    assert reader.items() == sorted(first + second)  # nothing doubled, nothing lost
