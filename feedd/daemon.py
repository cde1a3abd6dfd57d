"""``feedd run``: wire the stages together, start them, and stop them in order."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import sqlalchemy as sa

from feedd import __version__, logs, pipeline, store
from feedd.errors import ConfigError, FeeddError
from feedd.ingest import inbox
from feedd.ingest.watcher import InboxWatcher
from feedd.logs import fields
from feedd.notify.webhook import WebhookTarget
from feedd.notify.workers import DeliveryWorkers, WebhookSender
from feedd.publish import FeedSettings, Server, create_app, export_feeds
from feedd.publish.database import (
    DatabaseFeedSource,
    RefreshLoop,
    feed_settings_for,
    paper_link,
)
from feedd.settings import InboxSettings, Settings

log = logging.getLogger("feedd")

STOP_TIMEOUT_SECONDS = 20.0
# How soon feeds show what another process sharing the database stored.
FEED_REFRESH_SECONDS = 5.0
CHECKPOINT_SECONDS = 2.0


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
        return _serve(engine, settings)
    finally:
        engine.dispose()


def _serve(engine: sa.Engine, settings: Settings) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("Stopping", extra=fields(signal=signal.Signals(signum).name))
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    matcher = pipeline.prepare_subscriptions(engine, settings.subscriptions)
    log.info("Subscriptions ready", extra=fields(subscriptions=len(matcher)))
    watcher: InboxWatcher | None = None
    workers: DeliveryWorkers | None = None
    source = DatabaseFeedSource(
        engine,
        settings.subscriptions,
        health=lambda: {
            "watcher": {"ok": watcher is not None and watcher.alive()},
            "delivery": {"ok": workers is not None and workers.alive()},
        },
    )
    feed_settings = feed_settings_for(settings)
    source.refresh()

    def feeds_changed() -> None:
        source.refresh()
        if settings.feeds.output_dir is not None:
            _export(source, feed_settings, settings.feeds.output_dir)

    feeds_changed()
    webhooks = _webhook_sender(settings, feed_settings)
    workers = DeliveryWorkers(
        engine,
        {"webhook": webhooks},
        workers=settings.delivery.workers,
        retry_waits=settings.delivery.retry_waits,
        lease_seconds=settings.delivery.lease_seconds,
    )
    workers.start()

    def after_ingest() -> None:
        workers.wake()
        feeds_changed()

    server = Server(create_app(source, feed_settings), settings.http.host, settings.http.port)
    server.start()
    log.info("Serving feeds", extra=fields(url=server.url, base_url=feed_settings.base_url))
    refresher = RefreshLoop(source, FEED_REFRESH_SECONDS, on_change=feeds_changed)
    refresher.start()
    checkpointer = threading.Thread(
        target=_checkpoint_every, args=(engine, CHECKPOINT_SECONDS, stop), daemon=True
    )
    checkpointer.start()
    watcher = InboxWatcher(
        settings.inbox.path,
        DumpHandler(engine, settings.inbox, matcher, after_ingest=after_ingest),
        settle_seconds=settings.inbox.settle_seconds,
        rescan_seconds=settings.inbox.rescan_seconds,
        polling=settings.inbox.polling,
        poll_interval_seconds=settings.inbox.poll_interval_seconds,
    )
    watcher.start()
    log.info("feedd is running", extra=fields(watching=settings.inbox.path))
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stop.wait(0.5):
        pass
    if not watcher.stop(timeout=STOP_TIMEOUT_SECONDS):
        log.warning(
            "The file in hand did not finish in time; its transaction is abandoned and the "
            "file stays in the inbox for the next start",
            extra=fields(path=watcher.busy_with),
        )
    workers.stop(timeout=STOP_TIMEOUT_SECONDS / 2)
    webhooks.close()
    refresher.stop()
    server.stop(timeout=5)
    checkpointer.join(timeout=5)
    log.info("feedd stopped")
    return 0


def _webhook_sender(settings: Settings, feed_settings: FeedSettings) -> WebhookSender:
    targets = {
        name: WebhookTarget(name, hook.url, hook.secret, hook.timeout_seconds)
        for name, hook in settings.webhooks.items()
    }
    return WebhookSender(
        targets,
        allow_private=settings.delivery.allow_private_targets,
        feed_url=lambda name: f"{feed_settings.base_url}/feeds/{name}.rss",
        paper_url=lambda paper: paper_link(paper, feed_settings),
    )


def _checkpoint_every(engine: sa.Engine, interval: float, stop: threading.Event) -> None:
    """SQLite's WAL is copied back here, not inside the commits of ingests (see store.db)."""
    while not stop.wait(interval):
        try:
            store.checkpoint(engine)
        except FeeddError as exc:
            log.warning("Unable to checkpoint the database", extra=fields(error=exc.message))


def _export(source: DatabaseFeedSource, feed_settings: FeedSettings, folder: Path) -> None:
    try:
        export_feeds(source, feed_settings, folder)
    except (OSError, FeeddError) as exc:  # the feeds over HTTP are still fine
        log.error("Unable to write the static feeds", extra=fields(folder=folder, error=str(exc)))
