"""Channels: where a subscription's deliveries go, and the sender for each kind.

An outbox row names its channel as ``<kind>:<target>``:

- ``webhook:<name>``: a ``[webhooks.<name>]`` table;
- ``email:<address>``: an address of the subscription's ``email_to``;
- ``apprise:<hash>``: one of its ``apprise_urls``, by a hash of the URL, because those URLs carry
  tokens and the outbox is listed by ``feedd deliveries list``.

The sender of a kind turns a row and its papers into one message; the delivery workers decide
what a failure means for the row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import sqlalchemy as sa

from feedd import store
from feedd.notify.apprise_channel import send_apprise, validate_apprise_url
from feedd.notify.email import Digest, DigestPaper, SmtpConfig, build_message, send_email
from feedd.notify.webhook import WebhookTarget
from feedd.notify.workers import Outcome, Sender, WebhookSender
from feedd.publish import FeedSettings
from feedd.publish.database import paper_link
from feedd.settings import EMAIL, Settings, SmtpSettings, SubscriptionSettings

PaperUrl = Callable[[store.StoredPaper], str]
# Apprise messages are chat-sized: list this many papers, then say how many more.
APPRISE_MAX_PAPERS = 20


@dataclass(frozen=True)
class Refused:
    """A delivery that will not be sent (and must not be retried), with why."""

    error: str
    ok: bool = False
    permanent: bool = True


def apprise_channel(url: str) -> str:
    return "apprise:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def channels_of(sub: SubscriptionSettings) -> list[str]:
    """The outbox channel names of a subscription's receivers."""
    return (
        [f"webhook:{name}" for name in sub.webhooks]
        + [f"email:{to}" for to in sub.email_to]
        + [apprise_channel(url) for url in sub.apprise_urls]
    )


def smtp_config(smtp: SmtpSettings) -> SmtpConfig:
    return SmtpConfig(
        host=smtp.host,
        port=smtp.effective_port,
        security=smtp.security,
        username=smtp.username,
        password=smtp.password,
        from_address=smtp.from_address,
        domain=smtp.effective_domain,
        timeout_seconds=smtp.timeout_seconds,
        ca_file=str(smtp.ca_file) if smtp.ca_file else None,
    )


def digest_paper(paper: store.StoredPaper, url: str) -> DigestPaper:
    return DigestPaper(
        title=paper.title,
        url=url,
        authors=tuple(paper.authors),
        authors_count=paper.authors_count,
        organisation=paper.organisation,
        published=paper.published if isinstance(paper.published, date) else None,
        upvotes=paper.upvotes,
        abstract=paper.abstract,
        code_urls=tuple(paper.code_urls),
    )


class EmailSender:
    """One e-mail per delivery: the delivery's papers as a digest, with an unsubscribe link."""

    def __init__(
        self, engine: sa.Engine, smtp: SmtpConfig, feed_settings: FeedSettings, paper_url: PaperUrl
    ) -> None:
        self._engine = engine
        self._smtp = smtp
        self._base_url = feed_settings.base_url
        self._paper_url = paper_url

    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Outcome:
        address = delivery.channel.removeprefix("email:")
        recipient = store.recipient(self._engine, delivery.subscription_id, address)
        if recipient.paused_at is not None:
            return Refused(
                f"{address} unsubscribed from {delivery.subscription_name!r} on "
                f"{recipient.paused_at:%Y-%m-%d %H:%M} UTC; "
                f"`feedd subs resume {delivery.subscription_name} {address}` undoes it"
            )
        if not papers:
            return Refused("the papers of this delivery are no longer stored")
        return self.send(
            delivery,
            papers,
            address,
            unsubscribe_url=f"{self._base_url}/unsubscribe/{recipient.token}",
            feed_url=f"{self._base_url}/feeds/{delivery.subscription_name}.rss",
        )

    def send(
        self,
        delivery: store.Delivery,
        papers: list[store.StoredPaper],
        address: str,
        *,
        unsubscribe_url: str,
        feed_url: str,
    ) -> Outcome:
        """The papers as one digest e-mail to ``address``, sent now."""
        digest = Digest(
            delivery_id=delivery.delivery_id,
            subscription_name=delivery.subscription_name,
            subscription_title=delivery.subscription_title or delivery.subscription_name,
            feed_url=feed_url,
            unsubscribe_url=unsubscribe_url,
            papers=tuple(digest_paper(p, self._paper_url(p)) for p in papers),
        )
        return send_email(build_message(digest, address, self._smtp), self._smtp)


class AppriseSender:
    """Slack, Discord, Telegram, Matrix, ntfy and the rest, through Apprise."""

    def __init__(
        self, urls: Sequence[str], feed_settings: FeedSettings, paper_url: PaperUrl
    ) -> None:
        self._urls = {apprise_channel(url): url for url in urls}
        self._base_url = feed_settings.base_url
        self._paper_url = paper_url

    def __call__(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> Outcome:
        url = self._urls.get(delivery.channel)
        if url is None:
            return Refused("this Apprise URL is no longer in the settings")
        title = delivery.subscription_title or delivery.subscription_name
        count = len(papers)
        return send_apprise(
            url,
            title=f"{count} new paper{'s' if count != 1 else ''}: {title}",
            body=self.body(delivery, papers),
        )

    def body(self, delivery: store.Delivery, papers: list[store.StoredPaper]) -> str:
        lines = [
            f"- [{_markdown_text(p.title)}]({self._paper_url(p)})"
            for p in papers[:APPRISE_MAX_PAPERS]
        ]
        if len(papers) > APPRISE_MAX_PAPERS:
            lines.append(f"- … and {len(papers) - APPRISE_MAX_PAPERS} more")
        lines.append(f"\nFeed: {self._base_url}/feeds/{delivery.subscription_name}.rss")
        return "\n".join(lines)


def _markdown_text(text: str) -> str:
    cleaned = " ".join(text.split())
    return cleaned.replace("[", "\\[").replace("]", "\\]")


def build_senders(
    engine: sa.Engine, settings: Settings, feed_settings: FeedSettings
) -> dict[str, Sender]:
    """A sender for every channel kind the settings use, keyed by kind."""

    def paper_url(paper: store.StoredPaper) -> str:
        return paper_link(paper, feed_settings)

    targets = {
        name: WebhookTarget(name, hook.url, hook.secret, hook.timeout_seconds)
        for name, hook in settings.webhooks.items()
    }
    senders: dict[str, Sender] = {
        "webhook": WebhookSender(
            targets,
            allow_private=settings.delivery.allow_private_targets,
            feed_url=lambda name: f"{feed_settings.base_url}/feeds/{name}.rss",
            paper_url=paper_url,
        ),
        "apprise": AppriseSender(
            [url for sub in settings.subscriptions for url in sub.apprise_urls],
            feed_settings,
            paper_url,
        ),
    }
    if settings.smtp is not None:
        senders["email"] = EmailSender(engine, smtp_config(settings.smtp), feed_settings, paper_url)
    return senders


SAMPLE_PAPER = store.StoredPaper(
    id=0,
    key="arxiv:1503.02531",
    title="Distilling the Knowledge in a Neural Network (a sample paper from feedd)",
    abstract=(
        "This is a test delivery from `feedd deliveries test`. If it arrived, the channel is "
        "set up correctly."
    ),
    authors_count=3,
    authors=("Geoffrey Hinton", "Oriol Vinyals", "Jeff Dean"),
    organisation=None,
    published=date(2015, 3, 9),
    upvotes=None,
    arxiv_id="1503.02531",
    code_urls=(),
    first_seen=datetime(2015, 3, 9, tzinfo=UTC),
    last_seen=datetime(2015, 3, 9, tzinfo=UTC),
)


def resolve_test_channel(settings: Settings, text: str) -> str:
    """The channel ``feedd deliveries test`` names: ``webhook:NAME`` or a webhook's name,
    ``email:ADDRESS`` or an address, ``apprise:URL`` or an Apprise URL. ValueError otherwise."""
    kind, _, target = text.partition(":")
    if kind == "webhook" or (not target and text in settings.webhooks):
        name = target if kind == "webhook" else text
        if name not in settings.webhooks:
            known = ", ".join(sorted(settings.webhooks)) or "none defined"
            raise ValueError(f"there is no [webhooks.{name}] table (webhooks: {known})")
        return f"webhook:{name}"
    if kind == "email" or ("@" in text and "://" not in text):
        address = target if kind == "email" else text
        if settings.smtp is None:
            raise ValueError("e-mail needs an [smtp] table in the settings")
        if not EMAIL.match(address):
            raise ValueError(f"{address!r} is not an e-mail address")
        return f"email:{address}"
    url = target if kind == "apprise" else text
    if "://" in url:
        validate_apprise_url(url)
        return f"apprise-url:{url}"
    raise ValueError(
        "name a channel as webhook:NAME, email:ADDRESS or an Apprise URL such as ntfy://topic"
    )


def send_test(
    engine: sa.Engine, settings: Settings, feed_settings: FeedSettings, channel: str
) -> Outcome:
    """Send one sample delivery to ``channel`` (from resolve_test_channel) now, not via the
    outbox: the newest stored paper, or a built-in sample when there is none."""
    papers = store.list_papers(engine, limit=1) or [SAMPLE_PAPER]
    delivery = store.Delivery(
        id=0,
        delivery_id=store.new_delivery_id(),
        subscription_id=0,
        subscription_name="feedd-test",
        subscription_title="feedd test delivery",
        channel=channel,
        kind="test",
        paper_ids=tuple(p.id for p in papers),
        status="sending",
        attempts=0,
        next_attempt_at=datetime.now(UTC),
        last_error=None,
        created_at=datetime.now(UTC),
        sent_at=None,
    )

    def paper_url(paper: store.StoredPaper) -> str:
        return paper_link(paper, feed_settings)

    kind, _, target = channel.partition(":")
    if kind == "email":
        assert settings.smtp is not None
        email = EmailSender(engine, smtp_config(settings.smtp), feed_settings, paper_url)
        return email.send(
            delivery,
            papers,
            target,
            unsubscribe_url=f"{feed_settings.base_url}/unsubscribe/test",
            feed_url=f"{feed_settings.base_url}/feeds/all.rss",
        )
    if kind == "apprise-url":
        sender = AppriseSender([target], feed_settings, paper_url)
        return sender(replace(delivery, channel=apprise_channel(target)), papers)
    return build_senders(engine, settings, feed_settings)["webhook"](delivery, papers)
