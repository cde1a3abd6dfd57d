"""Golden files: the parser's complete output for the five real dumps and the JSON fixture.

The expected files were generated once by ``tests/data/parse/regenerate.py`` and then checked
by hand against the dumps (see the spot checks below, which guard the facts that were checked).
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from feedd.parse import open_dump
from tests.conftest import DATA, SHARED_DUMPS

GOLDEN = DATA / "parse"
# Fixed, so that year-less dates resolve the same way on every machine and every day.
REFERENCE_DATE = date(2026, 11, 22)


def golden_sources() -> list[Path]:
    return [*sorted(SHARED_DUMPS.glob("*.txt")), GOLDEN / "daily_papers_api.json"]


def expected_path(source: Path) -> Path:
    return GOLDEN / f"{source.stem}.expected.json"


def golden(data: bytes) -> dict[str, Any]:
    """Everything the parser makes of ``data``, as plain JSON data (dates in ISO form)."""
    dump = open_dump(io.BytesIO(data), reference_date=REFERENCE_DATE)
    papers = [_plain(dataclasses.asdict(record)) for record in dump]
    return {
        "format": str(dump.format),
        "page_date": dump.page_date.isoformat() if dump.page_date else None,
        "papers": papers,
        "warnings": [{"line": w.line, "message": w.message} for w in dump.warnings],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _load(name: str) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    return expected


@pytest.mark.parametrize("source", golden_sources(), ids=lambda path: path.stem)
def test_output_matches_the_golden_file(source: Path) -> None:
    assert golden(source.read_bytes()) == json.loads(expected_path(source).read_text("utf-8"))


def test_every_example_dump_has_a_golden_file(example_dumps: list[Path]) -> None:
    assert all(expected_path(dump).is_file() for dump in example_dumps)


def test_the_five_dumps_hold_392_entries(example_dumps: list[Path]) -> None:
    counts = [len(_load(expected_path(dump).name)["papers"]) for dump in example_dumps]
    assert counts == [69, 70, 71, 105, 77]


def _paper(name: str, title: str) -> dict[str, Any]:
    papers = [p for p in _load(name)["papers"] if p["title"] == title]
    assert len(papers) == 1, f"{title!r} in {name}: {len(papers)} times"
    paper: dict[str, Any] = papers[0]
    return paper


def test_spot_check_gradient_boosting_rl() -> None:
    paper = _paper("000_b5c2dc96a66d8542.expected.json", "Gradient Boosting Reinforcement Learning")
    assert paper["authors_count"] == 3
    assert paper["published"] == "2024-07-11"
    assert paper["upvotes"] == 2
    assert paper["code_urls"] == ["https://github.com/NVlabs/gbrl"]
    assert paper["key"] == "gradient boosting reinforcement learning"


def test_spot_check_organisation_entries() -> None:
    name = "004_3cba836e2ad5f7c8.expected.json"
    orgs = {p["organisation"]: p for p in _load(name)["papers"] if p["organisation"]}
    assert set(orgs) == {"ServiceNow-AI", "KaLM-Embedding", "Ontocord.AI"}
    mixture = orgs["Ontocord.AI"]
    assert mixture["title"].startswith("MixtureVitae: Open Web-Scale Pretraining Dataset")
    assert (mixture["authors_count"], mixture["published"], mixture["upvotes"]) == (
        None,
        "2026-09-29",
        3,
    )
    assert mixture["code_urls"] == ["https://github.com/ontocord/mixturevitae"]
    assert orgs["ServiceNow-AI"]["upvotes"] == 2


def test_spot_check_entry_without_metadata_in_the_middle_of_000() -> None:
    papers = _load("000_b5c2dc96a66d8542.expected.json")["papers"]
    bare = [p for p in papers if p["upvotes"] is None]
    assert [p["title"] for p in bare] == [
        "Bridging Supervised Learning and Reinforcement Learning in Math Reasoning"
    ]
    assert bare[0]["authors_count"] is None
    assert bare[0]["published"] is None
    neighbour = papers[papers.index(bare[0]) + 1]
    assert neighbour["title"] == "ExcelFormer: Can a DNN be a Sure Bet for Tabular Prediction?"


def test_spot_check_page_dates_and_no_warnings(example_dumps: list[Path]) -> None:
    goldens = [_load(expected_path(dump).name) for dump in example_dumps]
    assert [g["page_date"] for g in goldens] == [
        "2026-10-28",
        "2026-03-13",
        "2026-11-05",
        "2026-10-31",
        "2026-11-04",
    ]
    assert all(g["warnings"] == [] for g in goldens)


def test_spot_check_dump_without_any_metadata() -> None:
    papers = _load("001_f2ab68046b36be83.expected.json")["papers"]
    assert all(p["upvotes"] is None and p["published"] is None for p in papers)
