"""Subscriptions stored and matched inside ingest: once per pair, ever; history kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedd import pipeline, store
from feedd.settings import SubscriptionSettings
from tests.dumpgen import HEADER, entry
from tests.test_cli import feedd

ABSTRACT = "We distill a large teacher into a small student with knowledge distillation. " * 3


def dump(path: Path, *entries: str) -> Path:
    path.write_text(HEADER + "byAK and the research community\n\nOct 28\n\n" + "".join(entries))
    return path


def sub(name: str, query: str, **extra: object) -> SubscriptionSettings:
    return SubscriptionSettings(name=name, query=query, **extra)  # type: ignore[arg-type]


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(database_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()


def match_rows(engine: sa.Engine) -> list[tuple[str, str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.name, p.title, m.backfill FROM matches m "
                "JOIN subscriptions s ON s.id = m.subscription_id "
                "JOIN papers p ON p.id = m.paper_id ORDER BY s.name, p.title"
            )
        )
        return [(name, title, bool(backfill)) for name, title, backfill in rows]


def test_matches_are_recorded_in_the_ingest_with_the_words(
    engine: sa.Engine, tmp_path: Path
) -> None:
    matcher = pipeline.prepare_subscriptions(engine, [sub("kd", '"knowledge distillation"')])
    path = dump(
        tmp_path / "a.txt",
        entry("Tiny Students", ABSTRACT),
        entry("Unrelated Work", "We study graphs and nothing else at all, at length. " * 3),
    )
    ingested = pipeline.ingest_file(engine, path, subscriptions=matcher)
    assert [m.terms for m in ingested.matches] == [("knowledge distillation",)]
    assert match_rows(engine) == [("kd", "Tiny Students", False)]


def test_a_new_subscription_is_backfilled_and_marked(engine: sa.Engine, tmp_path: Path) -> None:
    pipeline.ingest_file(engine, dump(tmp_path / "a.txt", entry("Old Paper", ABSTRACT)))
    matcher = pipeline.prepare_subscriptions(engine, [sub("kd", "distill*")])
    assert match_rows(engine) == [("kd", "Old Paper", True)]
    pipeline.ingest_file(
        engine, dump(tmp_path / "b.txt", entry("New Paper", ABSTRACT)), subscriptions=matcher
    )
    assert match_rows(engine) == [("kd", "New Paper", False), ("kd", "Old Paper", True)]
    # Starting again with the same settings back-fills nothing twice.
    pipeline.prepare_subscriptions(engine, [sub("kd", "distill*")])
    assert len(match_rows(engine)) == 2


def test_more_upvotes_make_a_paper_match_exactly_once(engine: sa.Engine, tmp_path: Path) -> None:
    matcher = pipeline.prepare_subscriptions(engine, [sub("popular", "upvotes:>=10")])
    first = pipeline.ingest_file(
        engine,
        dump(tmp_path / "1.txt", entry("Rising Paper", ABSTRACT, date="Jul 11, 2024 2")),
        subscriptions=matcher,
    )
    assert first.matches == ()
    second = pipeline.ingest_file(
        engine,
        dump(tmp_path / "2.txt", entry("Rising Paper", ABSTRACT, date="Jul 11, 2024 12")),
        subscriptions=matcher,
    )
    assert len(second.matches) == 1
    third = pipeline.ingest_file(
        engine,
        dump(tmp_path / "3.txt", entry("Rising Paper", ABSTRACT, date="Jul 11, 2024 15")),
        subscriptions=matcher,
    )
    assert third.outcome.papers_updated == 1
    assert third.matches == ()
    assert match_rows(engine) == [("popular", "Rising Paper", False)]


def test_removed_and_renamed_subscriptions_keep_their_history(
    engine: sa.Engine, tmp_path: Path
) -> None:
    matcher = pipeline.prepare_subscriptions(
        engine, [sub("kd", "distill*"), sub("gone", "student")]
    )
    pipeline.ingest_file(
        engine, dump(tmp_path / "a.txt", entry("Paper A", ABSTRACT)), subscriptions=matcher
    )
    pipeline.prepare_subscriptions(engine, [sub("distillation", "distill*", renamed_from="kd")])
    assert match_rows(engine) == [
        ("distillation", "Paper A", False),
        ("gone", "Paper A", False),
    ]
    active = store.list_subscriptions(engine)
    assert [(s.name, s.matches) for s in active] == [("distillation", 1)]
    everything = store.list_subscriptions(engine, include_removed=True)
    assert [(s.name, s.removed_at is not None) for s in everything] == [
        ("distillation", False),
        ("gone", True),
    ]


def test_a_changed_query_is_backfilled_again(engine: sa.Engine, tmp_path: Path) -> None:
    pipeline.ingest_file(
        engine, dump(tmp_path / "a.txt", entry("Graph Paper", "We study graphs. " * 9))
    )
    pipeline.prepare_subscriptions(engine, [sub("s", "distill*")])
    assert match_rows(engine) == []
    pipeline.prepare_subscriptions(engine, [sub("s", "graphs")])
    assert match_rows(engine) == [("s", "Graph Paper", True)]


BROKEN = '[[subscriptions]]\nname = "llm-news"\nquery = "title:(LLM OR"\n'


@pytest.mark.parametrize("verb", ["run", "check-config"])
def test_a_broken_query_refuses_to_start_with_one_line(tmp_path: Path, verb: str) -> None:
    (tmp_path / "settings.toml").write_text(BROKEN)
    result = feedd(verb, "--config", "settings.toml", cwd=tmp_path)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message
    assert "'llm-news'" in message
    assert "position 13" in message  # the end of the query, where a term was expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml"]  # nothing half-started


def test_subs_cli(tmp_path: Path, example_dumps: list[Path]) -> None:
    (tmp_path / "settings.toml").write_text(
        '[[subscriptions]]\nname = "kd"\ntitle = "Distillation"\n'
        'query = \'"knowledge distillation"\'\nschedule = "0 8 * * 1-5"\n'
    )
    assert (
        feedd(
            "ingest", "--config", "settings.toml", *map(str, example_dumps), cwd=tmp_path
        ).returncode
        == 0
    )
    listed = feedd("subs", "list", "--json", "--config", "settings.toml", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [kd] = json.loads(listed.stdout)
    assert kd["name"] == "kd"
    assert kd["schedule"] == "0 8 * * 1-5"
    tested = feedd(
        "subs", "test", "--json", "--limit", "500", '"knowledge distillation"', cwd=tmp_path
    )
    assert tested.returncode == 0, tested.stderr
    found = json.loads(tested.stdout)
    assert len(found) == kd["matches"] > 0
    assert all(
        "knowledge distillation" in p["matched"].get("title", []) + p["matched"].get("abstract", [])
        for p in found
    )

    bad = feedd("subs", "test", "title:(a AND", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[1].index("^") == len("title:(a AND")
    explained = feedd("subs", "explain", "distill* -survey", cwd=tmp_path)
    assert explained.returncode == 0
    assert "distill" in explained.stdout


def test_feeds_changed_since_names_new_matches_and_updated_papers(
    engine: sa.Engine, tmp_path: Path
) -> None:
    graphs = "We study message passing on graphs with many nodes and edges, at length. " * 3
    subs = [sub("kd", '"knowledge distillation"'), sub("graphs", "graphs"), sub("none", "zebra")]
    matcher = pipeline.prepare_subscriptions(engine, subs)
    pipeline.ingest_file(
        engine,
        dump(tmp_path / "a.txt", entry("Tiny Students", ABSTRACT), entry("Graph Work", graphs)),
        subscriptions=matcher,
    )
    marker = store.change_marker(engine)
    assert store.feeds_changed_since(engine, marker) == set()
    # A new paper for "kd" only.
    pipeline.ingest_file(
        engine, dump(tmp_path / "b.txt", entry("Smaller Students", ABSTRACT)), subscriptions=matcher
    )
    assert store.feeds_changed_since(engine, marker) == {"kd"}
    # An update of a paper "graphs" matched already (a longer abstract): its feed changes too.
    marker = store.change_marker(engine)
    pipeline.ingest_file(
        engine,
        dump(tmp_path / "c.txt", entry("Graph Work", graphs + "And one more sentence here.")),
        subscriptions=matcher,
    )
    assert store.feeds_changed_since(engine, marker) == {"graphs"}
