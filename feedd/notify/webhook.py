"""Send one signed webhook call (SPEC §6) and say whether it worked, and if not, whether to retry.

Pure of the database and of settings: the caller passes the target, the delivery id and the JSON
body it built, and records the :class:`SendResult` on the delivery's row.

Signing follows the Standard Webhooks specification, so any receiver can verify a call with the
``standardwebhooks`` library. Every call uses its own short-lived ``httpx.Client``: workers call
:func:`send_webhook` from several threads at once, and a client per call shares no connection
state between them (a digest goes out at most every few minutes per target, so keep-alive would
buy nothing). Connections go through :mod:`feedd.notify.netcheck`, which refuses non-public
addresses at connect time and enforces a total deadline.

Error messages name the target by its origin (scheme, host, port) only: webhook URLs often carry
a token in their path, and messages end up in logs and on the delivery's row.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import hashlib
import hmac
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

import httpcore
import httpx

from feedd import __version__
from feedd.notify.netcheck import AddressRefused, Deadline, GuardedBackend

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_RETRY_AFTER = 24 * 3600.0
# httpx's timeouts apply to each connect, read and write; the whole call may take this many
# times timeout_seconds before it is cut off, however slowly the receiver drips its answer.
TOTAL_DEADLINE_FACTOR = 2.0

_TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookTarget:
    name: str
    url: str
    secret: str  # "whsec_<base64>"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SendResult:
    ok: bool
    permanent: bool  # a failure that retrying will not fix
    status: int | None  # HTTP status, None if no answer came
    error: str | None  # one line for logs and the delivery's row
    retry_after: float | None  # seconds the receiver asked us to wait (Retry-After)


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(
            f"webhook secret is not valid base64 after {SECRET_PREFIX!r}; "
            f"generate one with: python -c 'import base64, os; "
            f'print("whsec_" + base64.b64encode(os.urandom(32)).decode())\''
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"webhook secret is {len(key)} bytes long; it must be at least {MIN_SECRET_BYTES}"
        )
    return key


def validate_secret(secret: str) -> None:
    """Raise ValueError (with a message that does not contain the secret) if it is unusable."""
    _secret_key(secret)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped at 24 h."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(min(int(value), int(MAX_RETRY_AFTER)))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every call: building one loads the CA bundle (~10 ms), and an
    SSLContext may be shared by threads."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with its connection pool rebuilt on :class:`GuardedBackend`.

    httpx 0.28 has no public way to pass an httpcore network backend, so this replaces the
    private ``_pool``; it fails loudly rather than sending unguarded if httpx renames it.
    """

    def __init__(self, backend: GuardedBackend) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False, http2=False, retries=0)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport has no _pool; the webhook guard needs updating")
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=1,
            network_backend=backend,
        )


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port is not None else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}"


def _parse_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ValueError(f"webhook URL is not valid: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("webhook URL must be an http:// or https:// URL with a host")
    return url


def _result_for_status(response: httpx.Response, where: str, now: float) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(ok=True, permanent=False, status=status, error=None, retry_after=None)
    if status in _TRANSIENT_STATUSES or 500 <= status < 600:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        return SendResult(False, False, status, f"HTTP {status} from {where}", retry_after)
    hint = "; redirects are not followed, use the final URL" if 300 <= status < 400 else ""
    return SendResult(False, True, status, f"HTTP {status} from {where}{hint}", None)


def _failure(error: str, *, permanent: bool) -> SendResult:
    return SendResult(ok=False, permanent=permanent, status=None, error=error, retry_after=None)


def send_webhook(
    target: WebhookTarget,
    delivery_id: str,
    body: bytes,
    *,
    allow_private: bool,
    now: Callable[[], float] = time.time,
) -> SendResult:
    """POST ``body`` to the target, signed, and classify the outcome. Never raises for I/O."""
    try:
        url = _parse_url(target.url)
        validate_secret(target.secret)
    except ValueError as exc:
        return _failure(f"webhook {target.name!r}: {exc}", permanent=True)
    timestamp = int(now())
    headers = {
        "content-type": "application/json",
        "user-agent": f"feedd/{__version__}",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(target.secret, delivery_id, timestamp, body),
    }
    seconds = target.timeout_seconds
    deadline = Deadline(seconds * TOTAL_DEADLINE_FACTOR)
    backend = GuardedBackend(allow_private=allow_private, deadline=deadline)
    where = _origin(url)
    try:
        with (
            httpx.Client(
                transport=_GuardedTransport(backend),
                timeout=httpx.Timeout(seconds),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            # Streamed and never read: only the status and headers matter, and a huge or
            # endless response body must not be downloaded.
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            return _result_for_status(response, where, now())
    except AddressRefused as exc:
        return _failure(
            f"refused: {exc.message}; set [delivery] allow_private_targets = true to allow it",
            permanent=True,
        )
    except httpx.TimeoutException as exc:
        return _failure(_timeout_message(exc, deadline, seconds, where), permanent=False)
    except httpx.TransportError as exc:
        return _failure(f"could not send to {where}: {_one_line(exc)}", permanent=False)


def _timeout_message(
    exc: httpx.TimeoutException, deadline: Deadline, seconds: float, where: str
) -> str:
    if deadline.passed():
        total = seconds * TOTAL_DEADLINE_FACTOR
        return f"no complete answer from {where} within {total:g} s; gave up"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out after {seconds:g} s connecting to {where}"
    return f"timed out after {seconds:g} s waiting for {where}"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
