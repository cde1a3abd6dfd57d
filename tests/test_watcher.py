"""The inbox watcher on a real folder: settled files only, once each, nothing missed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedd.ingest.watcher import InboxWatcher
from tests.helpers import wait_for


class Recorder:
    """Stands in for the ingest handler: remembers what it saw, then moves the file away."""

    def __init__(self, done: Path) -> None:
        self.done = done
        self.seen: list[tuple[str, bytes]] = []
        self.fail_first: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, path: Path) -> None:
        if path.name in self.fail_first:
            self.fail_first.discard(path.name)
            raise OSError(5, "simulated I/O error")
        with self.lock:
            self.seen.append((path.name, path.read_bytes()))
        path.rename(self.done / path.name)

    def names(self) -> list[str]:
        with self.lock:
            return sorted(name for name, _ in self.seen)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    done = tmp_path / "done"
    done.mkdir()
    return Recorder(done)


def start(inbox: Path, recorder: Recorder, **options: object) -> Iterator[InboxWatcher]:
    settings: dict[str, object] = {"settle_seconds": 0.5, "rescan_seconds": 30.0}
    settings.update(options)
    watcher = InboxWatcher(inbox, recorder, retry_backoff=(0.2,), **settings)  # type: ignore[arg-type]
    watcher.start()
    try:
        yield watcher
    finally:
        assert watcher.stop(timeout=5)


@pytest.fixture
def watcher(inbox: Path, recorder: Recorder) -> Iterator[InboxWatcher]:
    yield from start(inbox, recorder)


def test_files_present_at_start_are_taken_once(inbox: Path, recorder: Recorder) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (inbox / name).write_text(name)
    for _ in start(inbox, recorder):
        wait_for(lambda: recorder.names() == ["a.txt", "b.txt", "c.txt"])
    assert recorder.names() == ["a.txt", "b.txt", "c.txt"]


def test_a_slowly_written_file_is_taken_only_when_complete(
    inbox: Path, recorder: Recorder, watcher: InboxWatcher
) -> None:
    chunks = [f"chunk {i}\n".encode() * 100 for i in range(10)]
    with (inbox / "slow.txt").open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
            handle.flush()
            time.sleep(0.1)  # the writer's pace, not a wait for feedd
            assert recorder.seen == []
    wait_for(lambda: recorder.seen)
    assert recorder.seen == [("slow.txt", b"".join(chunks))]


def test_a_file_renamed_into_place_is_taken_quickly(
    inbox: Path, recorder: Recorder, tmp_path: Path
) -> None:
    outside = tmp_path / "staging.txt"
    outside.write_text("complete")
    for _ in start(inbox, recorder, settle_seconds=30.0):
        os.rename(outside, inbox / "moved.txt")
        wait_for(lambda: recorder.names() == ["moved.txt"], timeout=5)


def test_temporary_names_wait_until_renamed(
    inbox: Path, recorder: Recorder, watcher: InboxWatcher
) -> None:
    (inbox / "dump.txt.part").write_text("half")
    (inbox / ".hidden").write_text("x")
    (inbox / "other.txt").write_text("x")
    wait_for(lambda: recorder.names() == ["other.txt"])
    os.rename(inbox / "dump.txt.part", inbox / "dump.txt")
    wait_for(lambda: recorder.names() == ["dump.txt", "other.txt"])
    assert (inbox / ".hidden").exists()


def test_a_failing_handler_does_not_stop_the_watcher(
    inbox: Path, recorder: Recorder, watcher: InboxWatcher
) -> None:
    recorder.fail_first.add("flaky.txt")
    (inbox / "flaky.txt").write_text("x")
    (inbox / "fine.txt").write_text("y")
    wait_for(lambda: recorder.names() == ["fine.txt", "flaky.txt"])
    assert watcher.alive()


def test_rescan_catches_files_when_the_observer_is_gone(inbox: Path, recorder: Recorder) -> None:
    for watcher in start(inbox, recorder, rescan_seconds=0.3):
        observer = watcher._observer
        assert observer is not None
        observer.stop()
        observer.join()
        (inbox / "missed.txt").write_text("x")
        wait_for(lambda: recorder.names() == ["missed.txt"])
        wait_for(watcher.alive)  # the rescan restarted the observer


def test_polling_mode_finds_new_files(inbox: Path, recorder: Recorder) -> None:
    for _ in start(inbox, recorder, polling=True, poll_interval_seconds=0.1):
        (inbox / "polled.txt").write_text("x")
        wait_for(lambda: recorder.names() == ["polled.txt"])


def test_subfolders_are_not_watched(inbox: Path, recorder: Recorder, watcher: InboxWatcher) -> None:
    (inbox / "archive").mkdir()
    (inbox / "archive" / "old.txt").write_text("x")
    (inbox / "new.txt").write_text("x")
    wait_for(lambda: recorder.names() == ["new.txt"])
    watcher.scan()
    wait_for(watcher.idle)
    assert recorder.names() == ["new.txt"]
