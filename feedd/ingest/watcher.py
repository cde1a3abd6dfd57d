"""Find files in the inbox that are complete, and hand each to a callback; never parse.

A file becomes *due* when it has been unchanged for ``settle_seconds``, or shortly after its
writer closed it or renamed it into place (inotify's close-write and moved-to events). Three
sources feed the candidates, because any one alone misses files:

- watchdog events (inotify, or polling for network filesystems);
- a scan at start-up, for files that arrived while feedd was down;
- a periodic rescan, because watchdog drops inotify queue overflows silently and an observer
  thread can die; the rescan also restarts a dead observer.

Files are handed over one at a time, from one worker thread, so ingests never compete for the
database. A callback that raises does not stop anything: the file is retried later with backoff.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

try:
    from watchdog.observers.inotify import InotifyObserver
except ImportError:  # not Linux: the platform's default observer
    InotifyObserver = None  # type: ignore[assignment,misc]

from feedd.logs import fields

log = logging.getLogger(__name__)

# After a close-write or a rename into place the file is complete; wait this long anyway so that
# a burst of events for one file becomes one hand-over.
QUICK_SETTLE_SECONDS = 0.15
RETRY_BACKOFF_SECONDS = (2.0, 5.0, 15.0, 60.0, 300.0)
# Names that writers use while a file is still being written; they arrive under their final name.
IGNORED_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".swp", "~")


def is_candidate_name(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(IGNORED_SUFFIXES)


@dataclass
class _Candidate:
    signature: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) when last looked at
    changed_at: float = 0.0
    quick: bool = False  # the writer closed it or renamed it into place
    failures: int = 0
    not_before: float = 0.0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)
    pending: dict[Path, _Candidate] = field(default_factory=dict)


class _EventHandler(FileSystemEventHandler):
    """Runs on watchdog's thread: only records paths, so it cannot fail in a way that matters."""

    def __init__(self, watcher: InboxWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:  # never let an exception kill watchdog's observer thread
            log.exception("Unable to record a file event", extra=fields(path=event.src_path))


class InboxWatcher:
    def __init__(
        self,
        inbox: Path,
        on_file: Callable[[Path], None],
        *,
        settle_seconds: float,
        rescan_seconds: float,
        polling: bool = False,
        poll_interval_seconds: float = 1.0,
        retry_backoff: tuple[float, ...] = RETRY_BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inbox = inbox
        self._on_file = on_file
        self._settle = settle_seconds
        self._rescan = rescan_seconds
        self._polling = polling
        self._poll_interval = poll_interval_seconds
        self._backoff = retry_backoff
        self._clock = clock
        self._state = _State()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
        self.busy_with: Path | None = None
        self.found_at_start = 0  # files the start-up scan found waiting

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch, then scan what is already there; a file present at start is never missed."""
        self._start_observer()
        self.found_at_start = self.scan()
        log.info("Inbox scanned", extra=fields(path=self.inbox, files=self.found_at_start))
        self._worker = threading.Thread(target=self._run, name="inbox-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop watching; let the file in hand finish. False when it did not within timeout."""
        self._stopping.set()
        self._state.wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2.0)
        if self._worker is not None:
            self._worker.join(timeout=timeout)
            return not self._worker.is_alive()
        return True

    def alive(self) -> bool:
        worker_ok = self._worker is not None and self._worker.is_alive()
        return worker_ok and self._observer is not None and self._observer.is_alive()

    def idle(self) -> bool:
        """Nothing waiting and nothing in hand (tests and the start-up READY use this)."""
        with self._state.lock:
            return not self._state.pending and self.busy_with is None

    def _start_observer(self) -> None:
        observer: BaseObserver
        if self._polling:
            observer = PollingObserver(timeout=self._poll_interval)
        elif InotifyObserver is not None:
            # Full events report a file moved in from outside the inbox as a move (complete
            # file) rather than as a creation (a writer may be about to fill it).
            observer = InotifyObserver(generate_full_events=True)
        else:
            observer = Observer()
        observer.schedule(_EventHandler(self), str(self.inbox), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    # -- candidates ------------------------------------------------------------------------------

    def _on_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            if event.src_path:
                self._forget(Path(os.fsdecode(event.src_path)))
            if event.dest_path:
                self._note(Path(os.fsdecode(event.dest_path)), quick=True)
        elif isinstance(event, FileDeletedEvent):
            self._forget(Path(os.fsdecode(event.src_path)))
        elif isinstance(event, FileClosedEvent):
            self._note(Path(os.fsdecode(event.src_path)), quick=True)
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            self._note(Path(os.fsdecode(event.src_path)), quick=False)
        # FileClosedNoWriteEvent and FileOpenedEvent: somebody (often us) read the file.

    def _note(self, path: Path, *, quick: bool) -> None:
        if path.parent != self.inbox or not is_candidate_name(path.name):
            return
        with self._state.lock:
            candidate = self._state.pending.setdefault(path, _Candidate(changed_at=self._clock()))
            candidate.quick = candidate.quick or quick
            if not quick:
                candidate.changed_at = self._clock()
        self._state.wake.set()

    def _forget(self, path: Path) -> None:
        with self._state.lock:
            self._state.pending.pop(path, None)

    def scan(self) -> int:
        """Add every regular file in the inbox that is not already waiting; how many were new."""
        try:
            entries = list(os.scandir(self.inbox))
        except OSError as exc:
            log.error(
                "Unable to list the inbox; check that it exists and is readable",
                extra=fields(path=self.inbox, error=exc.strerror),
            )
            return 0
        added = 0
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and is_candidate_name(entry.name):
                path = Path(entry.path)
                with self._state.lock:
                    if path not in self._state.pending:
                        self._state.pending[path] = _Candidate(changed_at=self._clock())
                        added += 1
        self._state.wake.set()
        return added

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_rescan = self._clock() + self._rescan
        while not self._stopping.is_set():
            now = self._clock()
            if now >= next_rescan:
                self._check_observer()
                self.scan()
                next_rescan = now + self._rescan
            due, wait = self._take_due(now)
            if due is not None:
                self._hand_over(due)
                continue
            self._state.wake.wait(timeout=min(wait, max(next_rescan - now, 0.01)))
            self._state.wake.clear()

    def _take_due(self, now: float) -> tuple[Path | None, float]:
        """The first settled file (removed from pending), or None and how long to wait."""
        wait = self._settle
        with self._state.lock:
            for path, candidate in list(self._state.pending.items()):
                signature = _signature(path)
                if signature is None:
                    del self._state.pending[path]  # gone: moved away or deleted by its writer
                    continue
                if signature != candidate.signature:
                    if candidate.signature is not None:
                        candidate.changed_at = now
                    candidate.signature = signature
                settle = QUICK_SETTLE_SECONDS if candidate.quick else self._settle
                ready_at = max(candidate.changed_at + settle, candidate.not_before)
                if ready_at <= now:
                    del self._state.pending[path]
                    self.busy_with = path
                    return path, 0.0
                wait = min(wait, ready_at - now)
        return None, max(wait, 0.01)

    def _hand_over(self, path: Path) -> None:
        try:
            self._on_file(path)
        except Exception as exc:
            self._retry_later(path, exc)
        finally:
            with self._state.lock:
                self.busy_with = None

    def _retry_later(self, path: Path, exc: Exception) -> None:
        with self._state.lock:
            candidate = self._state.pending.setdefault(path, _Candidate())
            candidate.failures += 1
            delay = self._backoff[min(candidate.failures, len(self._backoff)) - 1]
            candidate.not_before = self._clock() + delay
        log.error(
            "Unable to ingest a file; it stays in the inbox and will be tried again",
            exc_info=not isinstance(exc, OSError),
            extra=fields(path=path, error=str(exc) or type(exc).__name__, retry_in=f"{delay:g}s"),
        )

    def _check_observer(self) -> None:
        if self._observer is not None and not self._observer.is_alive():
            log.error("The inbox observer stopped; restarting it", extra=fields(path=self.inbox))
            try:
                self._start_observer()
            except OSError as exc:
                log.error(
                    "Unable to restart the inbox observer; relying on rescans",
                    extra=fields(error=exc.strerror),
                )


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
