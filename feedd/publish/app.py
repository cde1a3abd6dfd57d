"""The HTTP app: feeds, their pages, the index, OPML, /healthz, /metrics and e-mail
unsubscribe links.

Feed readers poll, and almost every poll finds nothing new, so the cached answer is the hot
path: ``FeedApp.__call__`` serves a current cached document straight from the ASGI scope, before
Starlette's middleware and router run. Everything else (first render after new data, 404s,
/healthz, /metrics) takes the ordinary Starlette route, with database work in a worker thread.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from feedd.logs import fields
from feedd.publish.cache import INDEX, OPML, DocumentCache, Key
from feedd.publish.common import FEED_FORMATS
from feedd.publish.document import Document, respond
from feedd.publish.model import FeedSettings, FeedSource
from feedd.publish.unsubscribe import UnsubscribeEndpoint

log = logging.getLogger(__name__)

_READ_METHODS = ("GET", "HEAD")
_FIXED_KEYS: dict[str, Key] = {"/": INDEX, "/opml": OPML}
_MAX_LISTED_FEEDS = 100


class MetricsPage(Protocol):
    """What /metrics serves (``feedd.metrics.Metrics``); ``render`` may block on the database."""

    def render(self) -> bytes: ...


METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def create_app(
    source: FeedSource,
    settings: FeedSettings,
    *,
    metrics: MetricsPage | None = None,
    unsubscribe: UnsubscribeEndpoint | None = None,
) -> Starlette:
    cache = DocumentCache(source, settings)
    routes = [
        Route("/", _DocumentEndpoint(cache, settings, INDEX[1])),
        Route("/opml", _DocumentEndpoint(cache, settings, OPML[1])),
        Route("/healthz", _HealthEndpoint(source)),
        *(
            Route(f"/feeds/{{name}}.{fmt}", _DocumentEndpoint(cache, settings, fmt))
            for fmt in FEED_FORMATS
        ),
        Route("/feeds/{name}", _DocumentEndpoint(cache, settings, "html")),
    ]
    if unsubscribe is not None:
        routes.append(Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "HEAD", "POST"]))
    if metrics is not None:
        routes.append(Route("/metrics", _MetricsEndpoint(metrics)))
    return FeedApp(cache, routes=routes, exception_handlers={404: _no_route})


def document_key(path: str) -> Key | None:
    """The cache key a request path names, or None when it names no document."""
    fixed = _FIXED_KEYS.get(path)
    if fixed is not None:
        return fixed
    if not path.startswith("/feeds/"):
        return None
    rest = path[len("/feeds/") :]
    if not rest or "/" in rest:
        return None
    name, dot, fmt = rest.rpartition(".")
    if dot and name and fmt in FEED_FORMATS:
        return (name, fmt)
    return (rest, "html")


class FeedApp(Starlette):
    """Starlette, with cached documents answered before the middleware stack."""

    def __init__(self, cache: DocumentCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.document_cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _READ_METHODS:
            key = document_key(scope["path"])
            document = self.document_cache.cached(key) if key is not None else None
            if document is not None:
                await _send_document(document, scope, send)
                return
        await super().__call__(scope, receive, send)


class _DocumentEndpoint:
    """A raw ASGI endpoint (Starlette passes instances through untouched) for one kind."""

    def __init__(self, cache: DocumentCache, settings: FeedSettings, kind: str) -> None:
        self._cache = cache
        self._settings = settings
        self._kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in _READ_METHODS:
            response: Response = PlainTextResponse(
                "Only GET and HEAD are allowed here.\n", 405, headers={"Allow": "GET, HEAD"}
            )
            await response(scope, receive, send)
            return
        key: Key = (scope["path_params"].get("name", ""), self._kind)
        try:
            document = self._cache.cached(key) or await run_in_threadpool(self._cache.get, key)
        except Exception:
            # A database hiccup must not look like a missing feed (404) or a crash: readers
            # retry a 503 later and keep the entries they have.
            log.exception("Unable to render document", extra=fields(name=key[0], kind=key[1]))
            response = PlainTextResponse(
                "The feed cannot be rendered right now; try again shortly.\n",
                503,
                headers={"Retry-After": "60", "Cache-Control": "no-store"},
            )
            await response(scope, receive, send)
            return
        if document is None:
            text = await run_in_threadpool(self._unknown_feed, key[0])
            await PlainTextResponse(text, 404)(scope, receive, send)
            return
        await _send_document(document, scope, send)

    def _unknown_feed(self, name: str) -> str:
        base = self._settings.base_url
        feeds = self._cache.known_feeds()
        lines = [f"There is no feed named {name!r}.", "", "Known feeds:"]
        lines += [f"  {base}/feeds/{info.name}.rss  ({info.title})" for info in feeds][
            :_MAX_LISTED_FEEDS
        ]
        if len(feeds) > _MAX_LISTED_FEEDS:
            lines.append(f"  … and {len(feeds) - _MAX_LISTED_FEEDS} more")
        lines += [
            "",
            "Every feed also comes as .atom and .json, and as a web page without an extension.",
            f"All feeds with their titles: {base}/   OPML for importing them all: {base}/opml",
        ]
        return "\n".join(lines) + "\n"


class _HealthEndpoint:
    def __init__(self, source: FeedSource) -> None:
        self._source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            health = await run_in_threadpool(self._source.health)
        except Exception as exc:  # a bug in a part's check: report it as that, not a crash
            log.exception("Health check failed")
            health = {"ok": False, "failing": ["health"], "error": f"{type(exc).__name__}: {exc}"}
        status = 200 if health.get("ok") is True else 503
        response = JSONResponse(health, status, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


class _MetricsEndpoint:
    def __init__(self, metrics: MetricsPage) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            # In a thread: the page reads the database, which must never stall the event loop.
            body = await run_in_threadpool(self._metrics.render)
        except Exception:  # a bug; database trouble is already a page with feedd_database_up 0
            log.exception("Unable to render the metrics")
            response: Response = PlainTextResponse(
                "The metrics could not be rendered; see the log.\n", 500
            )
        else:
            response = Response(
                body,
                200,
                media_type=METRICS_CONTENT_TYPE,
                headers={"Cache-Control": "no-store"},
            )
        await response(scope, receive, send)


async def _send_document(document: Document, scope: Scope, send: Send) -> None:
    status, headers, body = respond(document, scope["method"], scope["headers"])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _no_route(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code != 404:
        return PlainTextResponse(exc.detail, exc.status_code)
    text = (
        f"Nothing at {request.url.path}.\n"
        "Feeds live at /feeds/<name>.rss, .atom and .json; / lists them all, /opml has them "
        "for importing.\n"
    )
    return PlainTextResponse(text, 404)
