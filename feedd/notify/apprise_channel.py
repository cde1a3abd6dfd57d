"""Apprise: one library that speaks to Slack, Discord, Telegram, Matrix, ntfy and many more.

Apprise is imported on first use: it loads every plugin it ships, which takes a moment that a
feedd with no ``apprise_urls`` should not pay.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class AppriseResult:
    ok: bool
    permanent: bool
    error: str | None


def _apprise() -> ModuleType:
    # Apprise's plugins import imghdr (deprecated since Python 3.11, gone in 3.13) when a URL is
    # first read: importing it here, quietly, once, keeps that warning out of feedd's log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ImportError):
            importlib.import_module("imghdr")
        import apprise
    return apprise


def validate_apprise_url(url: str) -> None:
    """ValueError when Apprise does not know the URL's scheme or cannot read it."""
    apprise = _apprise()
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ValueError(
            "is not an Apprise URL Apprise can read (see the Apprise wiki for the services "
            "and their URL forms, e.g. ntfy://topic, mailto://, slack://…)"
        )


def send_apprise(url: str, *, title: str, body: str) -> AppriseResult:
    apprise = _apprise()
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return AppriseResult(False, True, "Apprise cannot read this URL; check apprise_urls")
    # Apprise reports only success or failure, so every failure is treated as transient.
    if notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN):
        return AppriseResult(True, False, None)
    service = url.split("://", 1)[0]
    return AppriseResult(False, False, f"the {service}:// service did not accept the message")
