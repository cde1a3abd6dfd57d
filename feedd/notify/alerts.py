"""feedd's own alert: no new dump for ``[inbox] stale_after`` means the upstream is broken.

The leader checks now and then. When the inbox has gone stale it logs a warning and sends one
notice to the ``[alerts]`` receivers; which stale episode was reported (the time of the last dump
it was about) is kept in the database, so a restart does not report it again. A dump arriving
ends the episode. A receiver that fails is tried again at the next check; one that took the
notice is not sent it twice.

Alerts are not paper deliveries: they go straight to the receivers, not through the outbox.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import sqlalchemy as sa

from feedd import store
from feedd.errors import FeeddError
from feedd.logs import fields
from feedd.notify.apprise_channel import send_apprise
from feedd.notify.email import SmtpConfig, send_email
from feedd.notify.webhook import WebhookTarget, send_webhook
from feedd.settings import Settings

log = logging.getLogger(__name__)

STATE_KEY = "inbox.stale"
MAX_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Notice:
    kind: str  # "inbox.stale"
    title: str
    text: str
    details: dict[str, object]


class AlertReceivers:
    """The ``[alerts]`` receivers; ``send`` returns the names of those that failed."""

    def __init__(self, settings: Settings, smtp: SmtpConfig | None) -> None:
        alerts = settings.alerts
        self._webhooks = [
            WebhookTarget(name, hook.url, hook.secret, hook.timeout_seconds)
            for name, hook in settings.webhooks.items()
            if name in alerts.webhooks
        ]
        self._allow_private = settings.delivery.allow_private_targets
        self._email_to = list(alerts.email_to)
        self._apprise_urls = list(alerts.apprise_urls)
        self._smtp = smtp

    def names(self) -> list[str]:
        return (
            [f"webhook:{t.name}" for t in self._webhooks]
            + [f"email:{a}" for a in self._email_to]
            + [f"apprise:#{n}" for n in range(1, len(self._apprise_urls) + 1)]
        )

    def send(self, notice: Notice, skip: set[str]) -> dict[str, str]:
        """Send to every receiver not in ``skip``; the failures, by receiver name."""
        failures: dict[str, str] = {}
        alert_id = f"alert_{int(datetime.now(UTC).timestamp() * 1000):x}"
        for target in self._webhooks:
            name = f"webhook:{target.name}"
            if name in skip:
                continue
            body = json.dumps(
                {
                    "type": "feedd.alert",
                    "alert": notice.kind,
                    "title": notice.title,
                    "message": notice.text,
                    **notice.details,
                },
                separators=(",", ":"),
            ).encode()
            result = send_webhook(target, alert_id, body, allow_private=self._allow_private)
            if not result.ok:
                failures[name] = result.error or "failed"
        for address in self._email_to:
            name = f"email:{address}"
            if name in skip or self._smtp is None:
                continue
            sent = send_email(self._message(notice, address, self._smtp), self._smtp)
            if not sent.ok:
                failures[name] = sent.error or "failed"
        for number, url in enumerate(self._apprise_urls, 1):
            name = f"apprise:#{number}"
            if name in skip:
                continue
            outcome = send_apprise(url, title=notice.title, body=notice.text)
            if not outcome.ok:
                failures[name] = outcome.error or "failed"
        return failures

    @staticmethod
    def _message(notice: Notice, to: str, smtp: SmtpConfig) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[feedd] {notice.title}"
        message["From"] = smtp.from_address
        message["To"] = to
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid("feedd-alert", domain=smtp.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(notice.text + "\n")
        return message


class StaleInboxAlarm:
    """Checks every ``stale_after / 10`` (at most every minute) on a thread of its own."""

    def __init__(
        self,
        engine: sa.Engine,
        stale_after: timedelta,
        receivers: AlertReceivers,
        *,
        inbox: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._stale_after = stale_after
        self._receivers = receivers
        self._inbox = inbox
        self._clock = clock
        self._started_at = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent_to: set[str] = set()  # receivers that have the current episode's notice
        self._episode: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stale-alarm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        interval = min(self._stale_after.total_seconds() / 10, MAX_CHECK_SECONDS)
        while not self._stop.wait(interval):
            try:
                self.check()
            except FeeddError as exc:
                log.warning("Unable to check for a stale inbox", extra=fields(error=exc.message))
            except Exception:  # the alarm must outlive any one failure
                log.exception("Stale-inbox check failed")

    def check(self) -> None:
        now = self._clock()
        last = store.last_ingest_at(self._engine)
        since = last or self._started_at  # nothing ever stored: count from this start
        episode = since.isoformat()
        reported = store.get_alert_state(self._engine, STATE_KEY)
        if now - since < self._stale_after:
            if reported is not None and reported != episode and self._episode is not None:
                log.info("Dumps arrive again", extra=fields(last_dump_at=episode))
            self._episode = None
            return
        if reported == episode:
            return  # this episode was reported, by this process or an earlier one
        if self._episode != episode:
            self._episode, self._sent_to = episode, set()
            log.warning(
                "No new dump has been stored for a while; check what feeds the inbox",
                extra=fields(
                    inbox=self._inbox,
                    last_dump_at=last.isoformat() if last else None,
                    stale_after=str(self._stale_after),
                ),
            )
        notice = self._notice(now, last)
        failures = self._receivers.send(notice, self._sent_to)
        self._sent_to |= set(self._receivers.names()) - set(failures)
        for name, error in failures.items():
            log.warning(
                "Unable to send the stale-inbox alert; trying again at the next check",
                extra=fields(receiver=name, error=error),
            )
        if not failures:
            store.set_alert_state(self._engine, STATE_KEY, episode, now=now)

    def _notice(self, now: datetime, last: datetime | None) -> Notice:
        quiet = now - (last or self._started_at)
        hours = quiet.total_seconds() / 3600
        when = f"since {last:%Y-%m-%d %H:%M} UTC" if last else "since feedd started"
        text = (
            f"No new dump has been stored {when} ({hours:.1f} h, more than the "
            f"[inbox] stale_after of {self._stale_after}). Check whatever saves the listing "
            f"pages into {self._inbox}: it may have stopped, or be saving pages feedd rejects "
            "(see the rejected/ folder)."
        )
        return Notice(
            kind=STATE_KEY,
            title="No new papers: the inbox is stale",
            text=text,
            details={
                "last_dump_at": last.isoformat() if last else None,
                "stale_after_seconds": self._stale_after.total_seconds(),
            },
        )
