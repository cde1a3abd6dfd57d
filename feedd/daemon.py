"""``feedd run``: wire the stages together, start them, and stop them in order."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import sqlalchemy as sa

from feedd import __version__, logs, pipeline, store
from feedd.errors import ConfigError, FeeddError
from feedd.ingest import inbox
from feedd.ingest.watcher import InboxWatcher
from feedd.leader import Leadership
from feedd.logs import fields
from feedd.metrics import Metrics
from feedd.notify.alerts import AlertReceivers, StaleInboxAlarm
from feedd.notify.channels import build_senders, smtp_config
from feedd.notify.digests import DigestScheduler, digest_plans
from feedd.notify.workers import DeliveryWorkers
from feedd.publish import FeedSettings, Server, create_app, export_feeds
from feedd.publish.database import DatabaseFeedSource, RefreshLoop, feed_settings_for
from feedd.publish.unsubscribe import UnsubscribeEndpoint
from feedd.sdnotify import Notifier, WatchdogPinger, start_watchdog
from feedd.settings import InboxSettings, Settings, load_settings

log = logging.getLogger("feedd")

STOP_TIMEOUT_SECONDS = 20.0
# How soon feeds show what another process sharing the database stored.
FEED_REFRESH_SECONDS = 5.0
CHECKPOINT_SECONDS = 2.0
# Longer than any one send may take (webhook timeouts are at most 300 s).
SENDER_GRACE_SECONDS = 330.0


class DumpHandler:
    """What the watcher does with a settled file: ingest it, then archive or reject it."""

    def __init__(
        self,
        engine: sa.Engine,
        folders: InboxSettings,
        subscriptions: pipeline.Subscriptions,
        after_ingest: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._folders = folders
        self.subscriptions = subscriptions
        self._after_ingest = after_ingest

    def __call__(self, path: Path) -> None:
        log.info("Ingesting dump", extra=fields(name=path.name))
        try:
            ingested = pipeline.ingest_file(self._engine, path, subscriptions=self.subscriptions)
        except FileNotFoundError:
            log.info("A file left the inbox before it was read", extra=fields(path=path))
            return
        outcome = ingested.outcome
        if outcome.status == "rejected":
            moved = inbox.reject(path, self._folders.rejected, outcome.error or "unknown reason")
            log.warning(
                "Dump rejected", extra=fields(name=path.name, moved_to=moved, reason=outcome.error)
            )
            return
        moved = inbox.archive(path, self._folders.archive)
        if outcome.status == "ingested":
            self._after_ingest()
        log.info(
            "Dump ingested" if outcome.status == "ingested" else "Dump was a duplicate",
            extra=fields(
                name=path.name,
                status=outcome.status,
                papers=outcome.papers_total,
                new=outcome.papers_new,
                updated=outcome.papers_updated,
                warnings=len(outcome.warnings),
                matches=len(ingested.matches),
                moved_to=moved,
            ),
        )


def prepare_folders(folders: InboxSettings) -> None:
    for key, folder in (
        ("path", folders.path),
        ("archive_path", folders.archive),
        ("rejected_path", folders.rejected),
    ):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"settings: [inbox] {key} = {str(folder)!r}: cannot create the folder "
                f"({exc.strerror}); create it or point the setting elsewhere"
            ) from None


def run(settings: Settings, config_file: Path | None) -> int:
    logs.configure(settings.log.level)
    log.info(
        "feedd starting",
        extra=fields(
            version=__version__,
            config=config_file or "built-in defaults",
            database=sa.make_url(settings.storage.database_url).render_as_string(
                hide_password=True
            ),
            inbox=settings.inbox.path,
        ),
    )
    prepare_folders(settings.inbox)
    engine = store.make_engine(settings.storage.database_url)
    try:
        store.upgrade(engine)
        return _serve(engine, settings, config_file)
    finally:
        engine.dispose()


def _serve(engine: sa.Engine, settings: Settings, config_file: Path | None) -> int:
    service = Service(engine, settings, config_file)
    signals: queue.SimpleQueue[signal.Signals] = queue.SimpleQueue()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals.put(signal.Signals(signum))  # handled in the main loop, not in the handler

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    service.start()
    while True:
        try:
            signum = signals.get(timeout=0.5)  # a timed wait keeps signals responsive
        except queue.Empty:
            continue
        if signum == signal.SIGHUP:
            service.reload()
            continue
        log.info("Stopping", extra=fields(signal=signum.name))
        service.stop()
        return 0


class Service:
    """The stages of ``feedd run`` and their order.

    Every process serves HTTP and sends deliveries; the leader (see feedd.leader) also watches
    the inbox and runs the digest scheduler. systemd hears READY=1 once all of that is up.
    """

    def __init__(self, engine: sa.Engine, settings: Settings, config_file: Path | None) -> None:
        self.engine = engine
        self.settings = settings
        self.config_file = config_file
        self.notifier = Notifier.from_environment()
        self.stopping = threading.Event()
        self.subscriptions = pipeline.prepare_subscriptions(engine, settings.subscriptions)
        log.info("Subscriptions ready", extra=fields(subscriptions=len(self.subscriptions)))
        self.feed_settings = feed_settings_for(settings)
        self.source = DatabaseFeedSource(engine, settings.subscriptions, health=self._health)
        self.metrics = Metrics(engine)
        self.workers = DeliveryWorkers(
            engine,
            build_senders(engine, settings, self.feed_settings),
            workers=settings.delivery.workers,
            retry_waits=settings.delivery.retry_waits,
            lease_seconds=settings.delivery.lease_seconds,
            on_sent=self.metrics.observe_delivery,
        )
        self.handler = DumpHandler(
            engine, settings.inbox, self.subscriptions, after_ingest=self._after_ingest
        )
        self.leadership = Leadership(
            engine, on_elected=self._start_leading, on_deposed=self._stop_leading
        )
        self.watcher: InboxWatcher | None = None
        self.scheduler: DigestScheduler | None = None
        self.alarm: StaleInboxAlarm | None = None
        self._leader_lock = threading.Lock()
        self.server: Server | None = None
        self.refresher: RefreshLoop | None = None
        self.checkpointer: threading.Thread | None = None
        self.pinger: WatchdogPinger | None = None
        self.exporter = Exporter(lambda: self._export_now())
        self._exported_marker: tuple[int, int] | None = None
        self._export_everything = True
        self._export_lock = threading.Lock()

    # --- start and stop ---------------------------------------------------------------------

    def start(self) -> None:
        self.exporter.start()
        self.source.refresh()
        self._feeds_changed()
        self.workers.start()
        unsubscribe = UnsubscribeEndpoint(
            lambda token: store.find_recipient(self.engine, token),
            lambda token: store.pause_recipient(self.engine, token, now=datetime.now(UTC)),
        )
        app = create_app(
            self.source, self.feed_settings, metrics=self.metrics, unsubscribe=unsubscribe
        )
        self.server = Server(app, self.settings.http.host, self.settings.http.port)
        self.server.start()
        log.info(
            "Serving feeds",
            extra=fields(url=self.server.url, base_url=self.feed_settings.base_url),
        )
        self.refresher = RefreshLoop(self.source, FEED_REFRESH_SECONDS, self._feeds_changed)
        self.refresher.start()
        self.checkpointer = threading.Thread(
            target=_checkpoint_every,
            args=(self.engine, CHECKPOINT_SECONDS, self.stopping),
            name="checkpoint",
            daemon=True,
        )
        self.checkpointer.start()
        self.leadership.start()  # a lone process leads now: its start-up scan is done on return
        log.info(
            "feedd is running", extra=fields(role=self._role(), watching=self.settings.inbox.path)
        )
        self.notifier.ready(status=self._status())
        self.pinger = start_watchdog(self.notifier, lambda: self.source.health()["ok"] is True)

    def stop(self) -> None:
        """Stop taking files and deliveries; finish or release what is in flight."""
        self.notifier.stopping(status="Stopping")
        self.stopping.set()
        if self.pinger is not None:
            self.pinger.stop(timeout=5)
        self.leadership.stop()  # stops the watcher and the scheduler, then frees the lock
        self.workers.stop(timeout=STOP_TIMEOUT_SECONDS / 2)
        _close_senders(self.workers.senders)
        if self.refresher is not None:
            self.refresher.stop()
        self.exporter.stop()
        if self.server is not None:
            self.server.stop(timeout=5)
        if self.checkpointer is not None:
            self.checkpointer.join(timeout=5)
        self.notifier.close()
        log.info("feedd stopped")

    # --- leading ------------------------------------------------------------------------------

    def _start_leading(self) -> None:
        with self._leader_lock:
            prepare_folders(self.settings.inbox)
            scheduler = DigestScheduler(
                self.engine,
                digest_plans(self.subscriptions.by_id),
                pipeline.receivers,
                on_queued=self.workers.wake,
            )
            scheduler.start()
            self.scheduler = scheduler
            inbox_settings = self.settings.inbox
            watcher = InboxWatcher(
                inbox_settings.path,
                self.handler,
                settle_seconds=inbox_settings.settle_seconds,
                rescan_seconds=inbox_settings.rescan_seconds,
                polling=inbox_settings.polling,
                poll_interval_seconds=inbox_settings.poll_interval_seconds,
            )
            watcher.start()
            self.watcher = watcher
            stale_after = inbox_settings.stale_after_seconds
            if stale_after is not None:
                smtp = smtp_config(self.settings.smtp) if self.settings.smtp else None
                alarm = StaleInboxAlarm(
                    self.engine,
                    timedelta(seconds=stale_after),
                    AlertReceivers(self.settings, smtp),
                    inbox=str(inbox_settings.path),
                )
                alarm.start()
                self.alarm = alarm

    def _stop_leading(self) -> None:
        with self._leader_lock:
            watcher, self.watcher = self.watcher, None
            scheduler, self.scheduler = self.scheduler, None
            alarm, self.alarm = self.alarm, None
            if alarm is not None:
                alarm.stop()
            if watcher is not None and not watcher.stop(timeout=STOP_TIMEOUT_SECONDS):
                log.warning(
                    "The file in hand did not finish in time; its transaction is abandoned "
                    "and the file stays in the inbox for the next start",
                    extra=fields(path=watcher.busy_with),
                )
            if scheduler is not None:
                scheduler.stop()

    # --- reload -------------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: read the settings again; swap in the new ones only if all of them are valid."""
        self.notifier.reloading(status="Reloading the settings")
        log.info("Reloading the settings", extra=fields(config=self.config_file or "defaults"))
        try:
            new = self._load_new_settings()
        except FeeddError as exc:
            log.error(
                "Settings not reloaded; the running ones stay in force",
                extra=fields(error=exc.message),
            )
            self.notifier.ready(status=self._status())
            return
        self.settings = new
        log.info(
            "Settings reloaded",
            extra=fields(subscriptions=len(self.subscriptions), role=self._role()),
        )
        self.notifier.ready(status=self._status())

    def _load_new_settings(self) -> Settings:
        new = load_settings(self.config_file)
        for section in _RESTART_ONLY:
            if getattr(new, section) != getattr(self.settings, section):
                log.warning(
                    "A changed section takes effect only after a restart",
                    extra=fields(section=f"[{section}]"),
                )
                new = new.model_copy(update={section: getattr(self.settings, section)})
        old_delivery, new_delivery = self.settings.delivery, new.delivery
        if (new_delivery.workers, new_delivery.retry_schedule) != (
            old_delivery.workers,
            old_delivery.retry_schedule,
        ):
            log.warning(
                "[delivery] workers and retry_schedule take effect only after a restart",
            )
        subscriptions = pipeline.prepare_subscriptions(self.engine, new.subscriptions)
        feed_settings = feed_settings_for(new)
        senders = build_senders(self.engine, new, feed_settings)
        # Everything is built: swap it in, each piece one assignment.
        self.subscriptions = subscriptions
        self.handler.subscriptions = subscriptions
        old_senders, self.workers.senders = self.workers.senders, senders
        # Sends in flight still use the old senders' connections: close them once those ended.
        closer = threading.Timer(SENDER_GRACE_SECONDS, _close_senders, [old_senders])
        closer.daemon = True
        closer.start()
        self.source.set_subscriptions(new.subscriptions)
        self._want_full_export()  # titles and the list of feeds may have changed
        with self._leader_lock:
            if self.scheduler is not None:
                self.scheduler.replace(digest_plans(subscriptions.by_id))
        self._feeds_changed()
        return new

    # --- helpers ------------------------------------------------------------------------------

    def _after_ingest(self) -> None:
        self.workers.wake()
        self._feeds_changed()

    def _feeds_changed(self) -> None:
        self.source.refresh()
        if self.settings.feeds.output_dir is not None:
            self.exporter.request()

    def _export_now(self) -> None:
        """Write the static feeds that may have changed since the last export (all of them at
        start-up, after a reload, and after a failed export)."""
        folder = self.settings.feeds.output_dir
        if folder is None:
            return
        marker = store.change_marker(self.engine)  # read first: later changes ask again
        with self._export_lock:
            previous, everything = self._exported_marker, self._export_everything
            self._export_everything = False
        only = None
        if previous is not None and not everything:
            if marker == previous:
                return
            only = store.feeds_changed_since(self.engine, previous)
        if _export(self.source, self.feed_settings, folder, only=only):
            self._exported_marker = marker
        else:
            self._want_full_export()

    def _want_full_export(self) -> None:
        with self._export_lock:
            self._export_everything = True

    def _role(self) -> str:
        return "leader" if self.leadership.is_leader else "follower"

    def _status(self) -> str:
        watcher = self.watcher
        if self.leadership.is_leader and watcher is not None:
            return (
                f"Leading: watching {self.settings.inbox.path} ({watcher.found_at_start} "
                f"file(s) waiting at start-up); serving {self._url()}"
            )
        return f"Following: serving {self._url()} and sending deliveries"

    def _url(self) -> str:
        return self.server.url if self.server is not None else "nothing yet"

    def _health(self) -> dict[str, object]:
        leader = self.leadership.is_leader
        watcher, scheduler = self.watcher, self.scheduler
        return {
            "role": self._role(),
            "watcher": {"ok": not leader or (watcher is not None and watcher.alive())},
            "scheduler": {"ok": not leader or (scheduler is not None and scheduler.alive())},
            "delivery": {"ok": self.workers.alive()},
            "leadership": {"ok": self.leadership.alive()},
        }


# Sections a running process cannot switch: the database it holds, the socket it listens on,
# the folders it watches and its log set-up.
_RESTART_ONLY = ("storage", "http", "inbox", "log")


def _checkpoint_every(engine: sa.Engine, interval: float, stop: threading.Event) -> None:
    """SQLite's WAL is copied back here, not inside the commits of ingests (see store.db)."""
    while not stop.wait(interval):
        try:
            store.checkpoint(engine)
        except FeeddError as exc:
            log.warning("Unable to checkpoint the database", extra=fields(error=exc.message))


def _close_senders(senders: Mapping[str, object]) -> None:
    """Close the kept-alive connections of the senders that hold any."""
    for sender in senders.values():
        close = getattr(sender, "close", None)
        if callable(close):
            close()


class Exporter:
    """Writes the static feeds on a thread of its own, so an ingest never waits for them;
    requests made while a write is running are folded into one more write."""

    def __init__(self, export: Callable[[], None]) -> None:
        self._export = export
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping.is_set():
                return
            self._wanted.clear()
            try:
                self._export()
            except Exception:  # the next request tries again
                log.exception("Unable to write the static feeds")


def _export(
    source: DatabaseFeedSource,
    feed_settings: FeedSettings,
    folder: Path,
    *,
    only: set[str] | None = None,
) -> bool:
    try:
        export_feeds(source, feed_settings, folder, only=only)
    except (OSError, FeeddError) as exc:  # the feeds over HTTP are still fine
        log.error("Unable to write the static feeds", extra=fields(folder=folder, error=str(exc)))
        return False
    return True
