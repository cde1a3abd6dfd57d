"""Digests: at each scheduled time, everything a subscription matched since its last digest goes
out as one delivery per receiver.

Each digest subscription has a *window* in the database: the instant up to which its matches
have been delivered. Firing closes the window at "now" and queues the papers matched inside it,
in one transaction, so a window is delivered once however often it is closed (an empty window
queues nothing). At start-up, a subscription whose next fire time after its window has already
passed (the daemon was down over it) fires once, not once per missed time.

The times come from APScheduler 3 (in-memory jobs rebuilt from the settings, ``coalesce`` so a
late scheduler fires once, ``max_instances=1``); the windows, not APScheduler, decide what is sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from feedd import store
from feedd.errors import FeeddError
from feedd.logs import fields
from feedd.notify.schedule import Schedule, parse_schedule
from feedd.settings import SubscriptionSettings

log = logging.getLogger(__name__)

# A fire that comes this late (a suspended machine, a stalled process) still runs; later, the
# next fire's window takes those papers along, so nothing is lost either way.
MISFIRE_GRACE_SECONDS = 3600
_TICK = timedelta(microseconds=1)

Receivers = Callable[[sa.Connection, int, SubscriptionSettings], list[str]]


@dataclass(frozen=True)
class DigestPlan:
    """One digest subscription: its stored id, settings and parsed schedule."""

    subscription_id: int
    settings: SubscriptionSettings
    schedule: Schedule

    def next_fire_after(self, instant: datetime) -> datetime | None:
        if self.schedule.every is not None:
            return instant + self.schedule.every
        assert self.schedule.cron is not None
        # CronTrigger rounds "now" up to a whole second; the tick keeps a window that closed
        # exactly on a fire time from counting that time again.
        fire: datetime | None = self.schedule.cron.get_next_fire_time(None, instant + _TICK)
        return fire

    def trigger(self, window: datetime) -> Any:
        if self.schedule.every is not None:
            return IntervalTrigger(
                seconds=self.schedule.every.total_seconds(),
                start_date=window + self.schedule.every,
                timezone=UTC,
            )
        return self.schedule.cron


def digest_plans(by_id: dict[int, SubscriptionSettings]) -> list[DigestPlan]:
    plans = []
    for subscription_id, sub in by_id.items():
        schedule = parse_schedule(sub.schedule, sub.timezone)
        if not schedule.immediate:
            plans.append(DigestPlan(subscription_id, sub, schedule))
    return plans


class DigestScheduler:
    def __init__(
        self,
        engine: sa.Engine,
        plans: Iterable[DigestPlan],
        receivers: Receivers,
        *,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._plans = {plan.subscription_id: plan for plan in plans}
        self._receivers = receivers
        self._on_queued = on_queued
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()  # one fire at a time; a reload waits for it

    def start(self) -> None:
        """Catch up on what fell due while feedd was down, then schedule the next fires."""
        windows = self.catch_up()
        self._scheduler.start()
        self._add_jobs(windows)

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def alive(self) -> bool:
        return bool(self._scheduler.running)

    def wakeup(self) -> None:
        """Re-read the clock now (tests move it)."""
        self._scheduler.wakeup()

    def replace(self, plans: Iterable[DigestPlan]) -> None:
        """New subscriptions or schedules (a reload): rebuild the jobs from them."""
        with self._lock:
            self._plans = {plan.subscription_id: plan for plan in plans}
            self._scheduler.remove_all_jobs()
        self._add_jobs(self.catch_up())

    def next_fires(self) -> dict[str, datetime]:
        """Each digest subscription's next fire time, by name."""
        fires = {}
        for job in self._scheduler.get_jobs():
            plan = self._plans.get(job.args[0])
            if plan is not None and job.next_run_time is not None:
                fires[plan.settings.name] = job.next_run_time
        return fires

    def catch_up(self) -> dict[int, datetime]:
        """Open a window for each new digest subscription; fire those whose fire time passed
        while feedd was down. Returns each subscription's window after that."""
        now = self._clock()
        windows: dict[int, datetime] = {}
        with store.storage_errors(self._engine), store.begin_write(self._engine) as conn:
            stored = store.digest_windows_of(conn)
            # An immediate subscription has no window: should it turn into a digest again, its
            # first window starts then, not at a stale instant (whose papers were sent already).
            store.drop_digest_windows(conn, [key for key in stored if key not in self._plans])
            for key in self._plans:
                if key not in stored:
                    store.open_digest_window(conn, key, now)
                    windows[key] = now
        for key, plan in self._plans.items():
            window = stored.get(key)
            if window is None:
                continue
            windows[key] = window
            due = plan.next_fire_after(window)
            if due is not None and due <= now:
                log.info(
                    "A digest fell due while feedd was down; sending it now",
                    extra=fields(subscription=plan.settings.name, due=due.isoformat()),
                )
                self.fire(key)
                windows[key] = now
        return windows

    def fire(self, subscription_id: int) -> list[str]:
        """Close the subscription's window now and queue its papers; the delivery ids queued."""
        with self._lock:
            plan = self._plans.get(subscription_id)
            if plan is None:  # removed by a reload while this fire waited
                return []
            now = self._clock()
            try:
                with store.storage_errors(self._engine), store.begin_write(self._engine) as conn:
                    papers = store.close_digest_window(
                        conn, subscription_id, until=now, first_window_start=now
                    )
                    channels = (
                        self._receivers(conn, subscription_id, plan.settings) if papers else []
                    )
                    queued = store.enqueue(
                        conn, subscription_id, channels, papers, kind="digest", now=now
                    )
            except FeeddError as exc:
                # The window stays open: the next fire takes these papers along.
                log.error(
                    "Unable to close a digest window",
                    extra=fields(subscription=plan.settings.name, error=exc.message),
                )
                return []
        log.info(
            "Digest queued" if queued else "Digest window closed with nothing to send",
            extra=fields(
                subscription=plan.settings.name, papers=len(papers), deliveries=len(queued)
            ),
        )
        if queued:
            self._on_queued()
        return queued

    def _add_jobs(self, windows: dict[int, datetime]) -> None:
        now = self._clock()
        for key, plan in self._plans.items():
            self._scheduler.add_job(
                self.fire,
                plan.trigger(windows.get(key, now)),
                args=[key],
                id=f"digest-{key}",
                name=f"digest of {plan.settings.name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                replace_existing=True,
            )
