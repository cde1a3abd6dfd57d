"""Inbox latency: from the moment a dump is complete in the inbox to its papers being stored.

    python benchmarks/inbox_latency.py

Starts a real ``feedd run`` (SQLite, default settle_seconds) in a temporary folder, then drops
the five example dumps one by one (copied in), one synthetic dump written slowly in ten chunks
over three seconds, and one renamed into place with ``mv``; for each it polls the database every
10 ms and prints the time from the last write (or the rename) until every paper of that file is
stored.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feedd.parse import parse_bytes  # noqa: E402
from tests.dumpgen import synthetic_dump  # noqa: E402

DUMPS = REPO.parent / "shared" / "dumps"


def keys_of(data: bytes) -> set[str]:
    _, records, _ = parse_bytes(data, reference_date=date(2026, 11, 22))
    return {r.key for r in records}


def stored(db: Path, keys: set[str]) -> bool:
    if not db.exists():
        return False
    conn = sqlite3.connect(db)
    try:
        found = {row[0] for row in conn.execute("SELECT key FROM papers")}
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return keys <= found


def measure(db: Path, keys: set[str], write: Callable[[], None]) -> float:
    write()
    complete = time.perf_counter()
    deadline = complete + 30
    while not stored(db, keys):
        if time.perf_counter() > deadline:
            raise SystemExit("papers not stored within 30 s")
        time.sleep(0.01)
    return time.perf_counter() - complete


def write_slowly(path: Path, data: bytes) -> None:
    step = len(data) // 10 + 1
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(0.3)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="feedd-latency-") as tmp:
        work = Path(tmp)
        db = work / "feedd.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "feedd", "run"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert daemon.stdout is not None
        for line in daemon.stdout:
            if "feedd is running" in line:
                break
        inbox = work / "inbox"
        results: list[tuple[str, float]] = []
        for dump in sorted(DUMPS.glob("*.txt")):
            data = dump.read_bytes()
            results.append(
                (
                    f"copy {dump.name}",
                    measure(db, keys_of(data), lambda dump=dump: shutil.copy(dump, inbox)),
                )
            )
        slow = synthetic_dump(40, prefix="Slow latency paper").encode()
        results.append(
            (
                "10 chunks over 3 s",
                measure(db, keys_of(slow), lambda: write_slowly(inbox / "s.txt", slow)),
            )
        )
        staged = work / "staged.txt"
        moved = synthetic_dump(25, prefix="Moved latency paper").encode()
        staged.write_bytes(moved)
        results.append(
            (
                "mv into the inbox",
                measure(db, keys_of(moved), lambda: staged.rename(inbox / "m.txt")),
            )
        )
        daemon.terminate()
        daemon.wait(timeout=30)
        daemon.stdout.close()
    for label, seconds in results:
        print(f"{label:<40} stored {seconds * 1000:7.0f} ms after the last write")
    print(f"{'worst':<40} {max(s for _, s in results) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
