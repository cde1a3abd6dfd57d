"""The Hugging Face /api/daily_papers JSON format."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from feedd.errors import DumpRejected
from feedd.parse import DumpFormat, PaperRecord, ParseWarning, open_dump, paper_key, parse_bytes
from tests.conftest import DATA, SHARED_DUMPS
from tests.test_parse_text import Trickle

FIXTURE = DATA / "parse" / "daily_papers_api.json"
REFERENCE = date(2026, 11, 22)


def parse(data: bytes) -> tuple[list[PaperRecord], list[ParseWarning]]:
    dump_format, records, warnings = parse_bytes(data, reference_date=REFERENCE)
    assert dump_format is DumpFormat.DAILY_PAPERS_JSON
    return records, warnings


def items(*values: Any) -> bytes:
    return json.dumps(list(values)).encode()


def test_the_fixture() -> None:
    records, warnings = parse(FIXTURE.read_bytes())
    gbrl, qwen, kalm = records
    assert gbrl.title == "Gradient Boosting Reinforcement Learning"
    assert gbrl.authors == ("Benjamin Fuhrer", "Chen Tessler", "Gal Dalal")
    assert (gbrl.authors_count, gbrl.published, gbrl.upvotes) == (3, date(2024, 7, 11), 4)
    assert gbrl.arxiv_id == "2407.08250"
    assert gbrl.code_urls == ("https://github.com/NVlabs/gbrl",)
    assert "\n" not in gbrl.abstract
    assert gbrl.abstract.startswith("Neural networks (NN)")
    assert qwen.title == "Qwen2.5 Technical Report"  # "Technical\n  Report" in the JSON
    assert (qwen.organisation, qwen.authors_count) == ("Qwen", 10)
    assert (kalm.organisation, kalm.authors_count, kalm.authors) == ("KaLM-Embedding", None, ())
    assert [(w.line, w.message) for w in warnings] == [(154, "item has no title; skipped")]


def test_a_paper_has_the_same_key_in_both_formats() -> None:
    records, _ = parse(FIXTURE.read_bytes())
    text = (SHARED_DUMPS / "000_b5c2dc96a66d8542.txt").read_text(encoding="utf-8")
    assert records[0].key == paper_key("Gradient Boosting Reinforcement Learning")
    assert "\nGradient Boosting Reinforcement Learning\n" in text
    # The summary, its line breaks joined, is the abstract the text page shows.
    assert records[0].abstract in text


def test_only_a_title_is_needed() -> None:
    records, warnings = parse(items({"title": "Bare  Paper\n"}))
    assert records == [PaperRecord(key="bare paper", title="Bare Paper", abstract="")]
    assert warnings == []


def test_item_title_is_used_when_the_paper_has_none() -> None:
    records, _ = parse(items({"title": "Outer Title", "paper": {"id": "2401.00001"}}))
    assert (records[0].title, records[0].arxiv_id) == ("Outer Title", "2401.00001")


@pytest.mark.parametrize(
    ("paper", "field", "value", "warning"),
    [
        ({"upvotes": "many"}, "upvotes", None, "unreadable upvotes 'many'"),
        ({"upvotes": -1}, "upvotes", None, "unreadable upvotes -1"),
        ({"upvotes": True}, "upvotes", None, "unreadable upvotes True"),
        ({"upvotes": 12}, "upvotes", 12, None),
        ({"publishedAt": "yesterday"}, "published", None, "unreadable publishedAt"),
        ({"publishedAt": "2024-02-30T00:00:00Z"}, "published", None, "unreadable publishedAt"),
        ({"publishedAt": "2024-02-29T23:59:59.000Z"}, "published", date(2024, 2, 29), None),
        ({"id": "not an id"}, "arxiv_id", None, "is not an arXiv id"),
        ({"id": 2401}, "arxiv_id", None, "is not an arXiv id"),
        ({"id": "hep-th/9901001"}, "arxiv_id", "hep-th/9901001", None),
        ({"id": "2410.12345v2"}, "arxiv_id", "2410.12345v2", None),
        ({"authors": "A. Person"}, "authors", (), "'authors' is not a list"),
        (
            {"authors": [{"name": " A  Person "}, {"x": 1}, "B Person", 7]},
            "authors",
            ("A Person", "B Person"),
            None,
        ),
        ({"organization": {"name": "nvidia"}}, "organisation", "nvidia", None),
        ({"organization": "NVIDIA"}, "organisation", None, None),
        ({"githubRepo": "https://github.com/a/b"}, "code_urls", ("https://github.com/a/b",), None),
        ({"githubRepo": None}, "code_urls", (), None),
        (
            {"summary": "Code: https://github.com/a/b.", "githubRepo": "https://github.com/a/b"},
            "code_urls",
            ("https://github.com/a/b",),
            None,
        ),
    ],
)
def test_fields_are_read_leniently(
    paper: dict[str, Any], field: str, value: object, warning: str | None
) -> None:
    records, warnings = parse(items({"paper": {"title": "A Paper", **paper}}))
    assert getattr(records[0], field) == value
    assert [w.message for w in warnings if warning and warning in w.message] == [
        w.message for w in warnings
    ]
    assert len(warnings) == (1 if warning else 0)


def test_organisation_at_item_level() -> None:
    item = {"paper": {"title": "A Paper"}, "organization": {"fullname": "ServiceNow-AI"}}
    records, _ = parse(items(item))
    assert records[0].organisation == "ServiceNow-AI"


def test_bad_items_are_skipped_one_by_one() -> None:
    data = items({"title": "First"}, 3, "text", {"paper": {}}, {"title": "   "}, {"title": "Last"})
    records, warnings = parse(data)
    assert [r.title for r in records] == ["First", "Last"]
    assert len(warnings) == 4


def test_a_cut_download_keeps_its_complete_items() -> None:
    data = FIXTURE.read_bytes()
    cut = data[: data.index(b'"title": "Qwen2.5 Technical Report"') + 20]
    records, warnings = parse(cut)
    assert [r.arxiv_id for r in records] == ["2407.08250"]
    assert "ends before its list is closed" in warnings[-1].message
    assert "kept the 1 complete items" in warnings[-1].message


def test_garbage_after_a_good_item_keeps_the_item() -> None:
    records, warnings = parse(b'[{"title": "Kept"} {"title": "Lost"}]')
    assert [r.title for r in records] == ["Kept"]
    assert "expected ',' or ']'" in warnings[0].message


def test_a_trickling_non_seekable_stream_is_read_to_the_end() -> None:
    data = FIXTURE.read_bytes()
    dump = open_dump(Trickle(data, 100), reference_date=REFERENCE)  # type: ignore[arg-type]
    assert [r.arxiv_id for r in dump] == ["2407.08250", "2412.15115", "2506.20923"]


def test_bom_and_leading_space_are_fine() -> None:
    records, _ = parse(b"\xef\xbb\xbf \n\t" + items({"title": "A Paper"}))
    assert records[0].title == "A Paper"


def test_invalid_utf8_is_replaced_with_a_warning() -> None:
    records, warnings = parse(b'[{"title": "Caf\xe9 Paper"}]')
    assert records[0].title == "Caf\ufffd Paper"
    assert "invalid UTF-8" in warnings[0].message


def test_items_without_titles_only_are_rejected_at_the_end() -> None:
    with pytest.raises(DumpRejected, match="none of the 2 JSON items has a title"):
        parse(items({"paper": {"id": "2401.00001"}}, {"title": ""}))
