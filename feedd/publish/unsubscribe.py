"""``/unsubscribe/<token>``: the link in every e-mail's List-Unsubscribe header and footer.

Only POST unsubscribes (RFC 8058 one-click, or the button on the page): mail scanners and link
previewers follow GET links, and must not unsubscribe anyone. GET shows what the link is for and
the button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse
from starlette.types import Receive, Scope, Send

from feedd import store
from feedd.logs import fields

log = logging.getLogger(__name__)

Lookup = Callable[[str], store.Recipient | None]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
</head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto;">
<h1 style="font-size: 1.3em;">{title}</h1>
{body}
</body>
</html>
"""


class UnsubscribeEndpoint:
    """``lookup`` finds a token's recipient; ``pause`` stops its e-mail (both None if unknown)."""

    def __init__(self, lookup: Lookup, pause: Lookup) -> None:
        self._lookup = lookup
        self._pause = pause

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = scope["path_params"]["token"]
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            response = HTMLResponse("", 405, headers={"Allow": "GET, HEAD, POST"})
        else:
            try:
                if method == "POST":
                    recipient = await run_in_threadpool(self._pause, token)
                else:
                    recipient = await run_in_threadpool(self._lookup, token)
            except Exception:
                log.exception("Unable to read the unsubscribe link")
                page = _page("Please try again later", "<p>The request cannot be handled now.</p>")
                response = HTMLResponse(page, 503, headers={"Retry-After": "60"})
            else:
                response = _answer(recipient, method == "POST")
                if method == "POST" and recipient is not None:
                    log.info(
                        "E-mail unsubscribed",
                        extra=fields(
                            subscription=recipient.subscription_name, address=recipient.address
                        ),
                    )
        response.headers["Cache-Control"] = "no-store"
        await response(scope, receive, send)


def _answer(recipient: store.Recipient | None, unsubscribed: bool) -> HTMLResponse:
    if recipient is None:
        return HTMLResponse(
            _page(
                "Unknown link",
                "<p>This unsubscribe link is not known here. If you keep getting e-mail, "
                "reply to it and ask the sender to remove your address.</p>",
            ),
            404,
        )
    title = escape(recipient.subscription_title or recipient.subscription_name)
    address = escape(recipient.address)
    if unsubscribed:
        return HTMLResponse(
            _page(
                "Unsubscribed",
                f"<p><strong>{address}</strong> will get no more e-mail about "
                f"<strong>{title}</strong>.</p>",
            )
        )
    if recipient.paused_at is not None:
        return HTMLResponse(
            _page(
                "Already unsubscribed",
                f"<p><strong>{address}</strong> gets no e-mail about <strong>{title}</strong> "
                "any more.</p>",
            )
        )
    return HTMLResponse(
        _page(
            "Unsubscribe?",
            f"<p>Stop e-mail about <strong>{title}</strong> to <strong>{address}</strong>?</p>"
            '<form method="post"><button type="submit">Unsubscribe</button></form>',
        )
    )


def _page(title: str, body: str) -> str:
    return _PAGE.format(title=escape(title), body=body)
