"""Moves out of the inbox: to archive/ after ingest, to rejected/ with the reason beside it.

Nothing dropped in the inbox is ever deleted: a move is a rename, or across filesystems a copy
that is flushed to disk before the original goes. A name already taken in the destination gets a
numbered suffix instead of overwriting an older file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path


def archive(path: Path, folder: Path) -> Path:
    """Move an ingested (or duplicate) dump into the archive folder; return its new path."""
    return _move(path, folder)


def reject(path: Path, folder: Path, reason: str) -> Path:
    """Move an unreadable file into the rejected folder beside ``<name>.error.txt``."""
    target = _move(path, folder)
    note = (
        f"feedd could not ingest {path.name}:\n{reason}\n\n"
        "Fix the file or its source and drop it into the inbox again; "
        "this note and the file can then be deleted.\n"
    )
    write_atomically(target.with_name(target.name + ".error.txt"), note.encode("utf-8"))
    return target


def write_atomically(target: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Temporary file in the same folder, fsync, rename: readers see all of it or nothing.

    ``mode`` matters because mkstemp creates files only their owner can read, and the static
    feeds are read by a web server running as another user.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name)
    try:
        # link + unlink rather than rename: link fails instead of overwriting a file that
        # appeared under the same name in the meantime.
        os.link(path, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
            raise
        _copy_durably(path, target)
    path.unlink()
    _fsync_folder(folder)
    return target


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    counter = 1
    while target.exists() or target.with_name(target.name + ".error.txt").exists():
        target = folder / f"{stem}.{counter}{suffix}"
        counter += 1
    return target


def _copy_durably(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(source, target)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
