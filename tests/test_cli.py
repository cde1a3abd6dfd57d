"""The feedd command as a user runs it: real processes, a real database, the real dumps."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from feedd.parse import paper_key, parse_bytes
from tests.dumpgen import write_dump

REFERENCE_DAY = "2026-11-22"


def feedd(
    *args: str, cwd: Path, database_url: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    environment.pop("CREDENTIALS_DIRECTORY", None)
    if database_url:
        environment["FEEDD_STORAGE__DATABASE_URL"] = database_url
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "feedd", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def distinct_keys(dumps: list[Path]) -> set[str]:
    keys = set()
    for dump in dumps:
        _, records, _ = parse_bytes(dump.read_bytes(), reference_date=_day())
        keys.update(record.key for record in records)
    return keys


def _day():  # type: ignore[no-untyped-def]
    from datetime import date

    return date.fromisoformat(REFERENCE_DAY)


def test_ingest_the_example_dumps_stores_each_paper_once(
    tmp_path: Path, database_url: str, example_dumps: list[Path]
) -> None:
    first = feedd(
        "ingest", "--json", *map(str, example_dumps), cwd=tmp_path, database_url=database_url
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["totals"]["ingested"] == 5
    assert sum(f["papers_total"] for f in summary["files"]) == 392
    expected = distinct_keys(example_dumps)
    assert summary["totals"]["papers_new"] == len(expected)

    listed = feedd(
        "papers", "list", "--json", "--limit", "1000", cwd=tmp_path, database_url=database_url
    )
    assert listed.returncode == 0, listed.stderr
    papers = json.loads(listed.stdout)
    assert sorted(p["key"] for p in papers) == sorted(expected)

    again = feedd("ingest", *map(str, example_dumps), cwd=tmp_path, database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("duplicate") >= 5
    assert "0 new papers" in again.stdout
    relisted = feedd(
        "papers", "list", "--json", "--limit", "1000", cwd=tmp_path, database_url=database_url
    )
    assert len(json.loads(relisted.stdout)) == len(expected)


def test_stored_fields_match_the_dumps(
    tmp_path: Path, database_url: str, example_dumps: list[Path]
) -> None:
    assert (
        feedd(
            "ingest", *map(str, example_dumps), cwd=tmp_path, database_url=database_url
        ).returncode
        == 0
    )
    shown = feedd(
        "papers",
        "show",
        "--json",
        "gradient boosting reinforcement learning",
        cwd=tmp_path,
        database_url=database_url,
    )
    assert shown.returncode == 0, shown.stderr
    gbrl = json.loads(shown.stdout)
    assert gbrl["title"] == "Gradient Boosting Reinforcement Learning"
    assert gbrl["authors_count"] == 3
    assert gbrl["published"] == "2024-07-11"
    assert gbrl["upvotes"] == 2
    assert gbrl["code_urls"] == ["https://github.com/NVlabs/gbrl"]
    assert set(gbrl) >= {
        "id",
        "key",
        "title",
        "abstract",
        "authors_count",
        "authors",
        "organisation",
        "published",
        "upvotes",
        "arxiv_id",
        "code_urls",
        "first_seen",
        "last_seen",
    }
    by_id = feedd(
        "papers", "show", "--json", str(gbrl["id"]), cwd=tmp_path, database_url=database_url
    )
    assert json.loads(by_id.stdout)["key"] == gbrl["key"]

    listed = json.loads(
        feedd(
            "papers", "list", "--json", "--limit", "1000", cwd=tmp_path, database_url=database_url
        ).stdout
    )
    mixture = [p for p in listed if p["title"].startswith("MixtureVitae")]
    assert len(mixture) == 1
    assert mixture[0]["organisation"] == "Ontocord.AI"


def test_ingest_leaves_the_database_file_complete(
    tmp_path: Path, example_dumps: list[Path]
) -> None:
    # Checkpoints run outside the ingest's commit (store.db); the CLI must still run one, so
    # the database file alone, without its -wal, holds everything, even while another
    # process (a running daemon) keeps the database open and SQLite's checkpoint-on-last-close
    # does not happen.
    assert feedd("db", "upgrade", cwd=tmp_path).returncode == 0
    daemon_like = sqlite3.connect(tmp_path / "feedd.db")
    daemon_like.execute("SELECT count(*) FROM sqlite_master").fetchall()  # joins the WAL
    try:
        assert feedd("ingest", str(example_dumps[0]), cwd=tmp_path).returncode == 0
        copy = tmp_path / "copy.db"
        shutil.copy(tmp_path / "feedd.db", copy)
    finally:
        daemon_like.close()
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT count(*) FROM papers").fetchone() == (69,)
    finally:
        conn.close()


def test_papers_list_human_output_and_limit(tmp_path: Path, example_dumps: list[Path]) -> None:
    assert feedd("ingest", str(example_dumps[0]), cwd=tmp_path).returncode == 0
    listed = feedd("papers", "list", "--limit", "3", cwd=tmp_path)
    assert listed.returncode == 0
    assert len(listed.stdout.strip().splitlines()) == 3
    assert "3 of 69 papers" in listed.stderr


def test_ingest_rejects_what_is_not_a_dump_and_carries_on(
    tmp_path: Path, example_dumps: list[Path]
) -> None:
    prose = tmp_path / "essay.txt"
    prose.write_text("It was a dark and stormy night.\n\nThe rain fell in torrents.\n" * 20)
    result = feedd("ingest", str(prose), str(example_dumps[1]), cwd=tmp_path)
    assert result.returncode == 1
    assert "essay.txt: rejected:" in result.stdout
    assert "ingested 70 papers" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["papers", "show", "no such paper at all"], "no paper with id or title"),
        (["ingest", "missing.txt"], "does not exist"),
        (["--config", "nope.toml", "papers", "list"], "nope.toml, which is not a readable file"),
        (["papers", "list", "--limit", "0"], "--limit"),
    ],
)
def test_user_mistakes_get_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = feedd(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_from_the_environment(tmp_path: Path) -> None:
    result = feedd("check-config", cwd=tmp_path, env={"FEEDD_INBOX__SETTLE_SECONDS": "later"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "[inbox] settle_seconds = 'later'" in result.stderr


def test_unreachable_database_is_one_line_exit_3(tmp_path: Path) -> None:
    result = feedd(
        "papers",
        "list",
        cwd=tmp_path,
        database_url="postgresql+psycopg://feedd:hunter2@127.0.0.1:1/feedd",
    )
    assert result.returncode == 3
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_check_config_prints_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[storage]\ndatabase_url = "postgresql+psycopg://feedd:hunter2@db/feedd"\n')
    result = feedd("check-config", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert 'database_url = "postgresql+psycopg://feedd:***@db/feedd"' in result.stdout
    assert f'path = "{tmp_path / "inbox"}"' in result.stdout


def test_db_upgrade_is_idempotent(tmp_path: Path, database_url: str) -> None:
    first = feedd("db", "upgrade", cwd=tmp_path, database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    second = feedd("db", "upgrade", cwd=tmp_path, database_url=database_url)
    assert "up to date" in second.stdout


def test_every_verb_has_help(tmp_path: Path) -> None:
    for verb in (
        ["run"],
        ["ingest"],
        ["papers", "list"],
        ["papers", "show"],
        ["db", "upgrade"],
        ["check-config"],
    ):
        result = feedd(*verb, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Usage: feedd" in result.stdout


def test_large_ingest_reports_progress_free_output_when_piped(tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "big.txt", 5000, prefix="Synthetic paper")
    result = feedd("ingest", str(dump), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ingested 5000 papers (5000 new" in result.stdout
    assert "Ingesting" not in result.stderr  # no progress bar when stderr is not a terminal
    assert paper_key("Synthetic paper 17") == "synthetic paper 17"
