"""Moves out of the inbox never overwrite and never lose a file."""

from __future__ import annotations

from pathlib import Path

from feedd.ingest import inbox


def test_archive_moves_and_keeps_older_files_with_the_same_name(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    first, second = tmp_path / "dump.txt", tmp_path / "dump.txt"
    first.write_text("one")
    assert inbox.archive(first, archive) == archive / "dump.txt"
    second.write_text("two")
    assert inbox.archive(second, archive) == archive / "dump.1.txt"
    assert (archive / "dump.txt").read_text() == "one"
    assert (archive / "dump.1.txt").read_text() == "two"
    assert not (tmp_path / "dump.txt").exists()


def test_reject_writes_the_reason_beside_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\x00binary")
    moved = inbox.reject(bad, tmp_path / "rejected", "binary data, not a dump")
    assert moved.read_bytes() == b"\xff\xd8\xff\x00binary"
    note = (tmp_path / "rejected" / "photo.jpg.error.txt").read_text()
    assert "binary data, not a dump" in note
    assert "photo.jpg" in note


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "feed.xml"
    inbox.write_atomically(target, b"<rss/>")
    inbox.write_atomically(target, b"<rss>2</rss>")
    assert target.read_bytes() == b"<rss>2</rss>"
    assert [p.name for p in target.parent.iterdir()] == ["feed.xml"]
    assert target.stat().st_mode & 0o777 == 0o644  # a web server running as another user reads it
