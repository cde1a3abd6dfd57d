"""Delivery schedules: ``immediate``, a five-field cron expression, or ``every 30m``.

Cron fields follow crontab(5), not APScheduler's own conventions: day-of-week 0 and 7 are Sunday
and 1-5 is Monday to Friday. (APScheduler 3's ``CronTrigger.from_crontab`` numbers the week
from Monday = 0, so ``1-5`` would silently mean Tuesday to Saturday; the numbers are translated
to names here before APScheduler sees them.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; exactly one of ``immediate``, ``cron`` and ``every`` is set."""

    text: str
    immediate: bool = False
    cron: CronTrigger | None = None
    every: timedelta | None = None


def parse_schedule(text: str, timezone: str) -> Schedule:
    """The schedule ``text`` means; ValueError with what is allowed when it means nothing."""
    spec = " ".join(text.split()).lower()
    if spec == "immediate":
        return Schedule(text=text, immediate=True)
    if match := _EVERY.match(spec):
        every = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
        if every < MIN_INTERVAL:
            raise ValueError("an 'every' schedule must be at least 1m")
        return Schedule(text=text, every=every)
    fields = spec.split(" ")
    if len(fields) != 5:
        raise ValueError(
            'use "immediate", "every 30m" / "every 6h", or a five-field cron expression '
            'such as "0 8 * * 1-5"'
        )
    minute, hour, day, month, day_of_week = fields
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday_names(day_of_week),
            timezone=ZoneInfo(timezone),
        )
    except ValueError as exc:
        raise ValueError(f"is not a valid cron expression: {exc}") from None
    return Schedule(text=text, cron=trigger)


def _weekday_names(field: str) -> str:
    """crontab(5) day numbers (0 or 7 = Sunday) as names, which APScheduler reads unambiguously."""
    return re.sub(r"(?<!/)\d+", lambda m: _day_name(m[0]), field)


def _day_name(number: str) -> str:
    value = int(number)
    if value > 7:
        raise ValueError(f"day of week {value} is out of range (0-7, 0 and 7 are Sunday)")
    return _DAY_NAMES[value]
