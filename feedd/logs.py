"""Logs are sentences with structured fields, one line per event, to stdout for journald.

log.info("Dump ingested", extra=fields(name="x.txt", papers_new=12))
-> 2026-11-22 05:00:00 INFO Dump ingested name=x.txt papers_new=12
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def fields(**values: Any) -> dict[str, Any]:
    """The ``extra=`` argument that attaches key=value fields to a log record."""
    return {"fields": values}


def _render(value: Any) -> str:
    text = str(value)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class FieldsFormatter(logging.Formatter):
    def __init__(self, *, timestamps: bool) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(message)s" if timestamps else "%(levelname)s %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = getattr(record, "fields", None)
        if extra:
            line += " " + " ".join(f"{key}={_render(value)}" for key, value in extra.items())
        return line


def configure(level: str) -> None:
    """Send feedd's logs to stdout; journald stamps its own time, a terminal gets one."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(FieldsFormatter(timestamps=sys.stdout.isatty()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter (watchdog's inotify buffer, alembic's runner) only when debugging.
    for noisy in ("watchdog", "alembic"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
