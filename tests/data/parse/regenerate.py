"""Rewrite the golden files of the parser tests from the current parser's output.

Run it only after a deliberate change to the parser, then read the diff of every
``*.expected.json`` before committing it: the golden files say what the parser makes of real
dumps, and a diff nobody reviewed turns a bug into the expected answer.

    .venv/bin/python tests/data/parse/regenerate.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.test_parse_golden import expected_path, golden, golden_sources  # noqa: E402


def main() -> None:
    for source in golden_sources():
        text = json.dumps(golden(source.read_bytes()), indent=2, ensure_ascii=False) + "\n"
        expected_path(source).write_text(text, encoding="utf-8")
        print(f"wrote {expected_path(source).relative_to(REPO)}")


if __name__ == "__main__":
    main()
