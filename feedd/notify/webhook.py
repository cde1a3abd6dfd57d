"""Send one signed webhook call (SPEC §6) and say whether it worked, and if not, whether to retry.

Pure of the database and of settings: the caller passes the target, the delivery id and the JSON
body it built, and records the :class:`SendResult` on the delivery's row.

Signing follows the Standard Webhooks specification, so any receiver can verify a call with the
``standardwebhooks`` library. A :class:`WebhookClient` keeps connections to its target alive
between calls and may be shared by the delivery workers' threads: a burst of immediate
deliveries to one receiver then costs one request each, not a TCP (and TLS) handshake each
(measured on loopback: ~1.1 ms of CPU per call with a fresh httpx client per call, ~0.4 ms on a
kept-alive connection). Every new connection goes
through :mod:`feedd.notify.netcheck`, which resolves the name, refuses non-public addresses and
connects to the checked address; each call, on a new or a reused connection, has its own total
deadline.

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
from types import TracebackType

import httpcore
import httpx

from feedd import __version__
from feedd.notify.netcheck import AddressRefused, Deadline, GuardedBackend, deadline

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_RETRY_AFTER = 24 * 3600.0
# httpx's timeouts apply to each connect, read and write; the whole call may take this many
# times timeout_seconds before it is cut off, however slowly the receiver drips its answer.
TOTAL_DEADLINE_FACTOR = 2.0
# After the status and headers, the rest of the answer is read (so the connection can serve the
# next call) only if it is short and comes quickly; otherwise the connection is dropped.
DRAIN_MAX_BYTES = 64 * 1024
DRAIN_SECONDS = 1.0
# Idle connections are closed after this long. Receivers drop idle connections on their own
# schedule (Node.js after 5 s), and a call on one they just dropped fails (and is retried):
# staying well below that costs a reconnect after a pause, never a failed call.
KEEPALIVE_SECONDS = 2.0
# Calls in flight to one target at once: at most one per delivery worker (le=64 in settings).
MAX_CONNECTIONS = 64

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


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _result_for_status(response: httpcore.Response, where: str, now: float) -> SendResult:
    status = response.status
    if 200 <= status < 300:
        return SendResult(ok=True, permanent=False, status=status, error=None, retry_after=None)
    if status in _TRANSIENT_STATUSES or 500 <= status < 600:
        retry_after = parse_retry_after(_header(response, b"retry-after"), now)
        return SendResult(False, False, status, f"HTTP {status} from {where}", retry_after)
    hint = "; redirects are not followed, use the final URL" if 300 <= status < 400 else ""
    return SendResult(False, True, status, f"HTTP {status} from {where}{hint}", None)


def _failure(error: str, *, permanent: bool) -> SendResult:
    return SendResult(ok=False, permanent=permanent, status=None, error=error, retry_after=None)


class WebhookClient:
    """Signed calls to one target over kept-alive connections; safe to share between threads.

    It speaks through httpcore's connection pool directly: httpx's client layer (cookies,
    redirects, auth, proxies from the environment) is nothing a webhook wants, and cost 40% of
    the CPU of a call. A call that hangs holds only its own connection: the next call opens
    another one, after the address check.
    """

    def __init__(self, target: WebhookTarget, *, allow_private: bool) -> None:
        self.target = target
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=GuardedBackend(allow_private=allow_private),
        )
        try:
            url = _parse_url(target.url)
            validate_secret(target.secret)
        except ValueError as exc:
            self._problem: str | None = f"webhook {target.name!r}: {exc}"
            return
        self._problem = None
        self._where = _origin(url)
        self._url = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        self._host = url.netloc  # brackets around an IPv6 address, the port if one is given
        seconds = target.timeout_seconds
        self._timeouts = {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def send(
        self, delivery_id: str, body: bytes, *, now: Callable[[], float] = time.time
    ) -> SendResult:
        """POST ``body``, signed, and classify the outcome. Never raises for I/O."""
        if self._problem is not None:
            return _failure(self._problem, permanent=True)
        timestamp = int(now())
        headers = [
            (b"host", self._host),
            (b"content-type", b"application/json"),
            (b"user-agent", _USER_AGENT),
            (b"webhook-id", delivery_id.encode()),
            (b"webhook-timestamp", str(timestamp).encode()),
            (b"webhook-signature", sign(self.target.secret, delivery_id, timestamp, body).encode()),
        ]
        seconds = self.target.timeout_seconds
        where = self._where
        with deadline(seconds * TOTAL_DEADLINE_FACTOR) as call_deadline:
            try:
                with self._pool.stream(
                    "POST",
                    self._url,
                    headers=headers,
                    content=body,
                    extensions={"timeout": self._timeouts},
                ) as response:
                    result = _result_for_status(response, where, now())
                    _drain(response)
                    return result
            except AddressRefused as exc:
                return _failure(
                    f"refused: {exc.message}; "
                    "set [delivery] allow_private_targets = true to allow it",
                    permanent=True,
                )
            except httpcore.TimeoutException as exc:
                message = _timeout_message(exc, call_deadline, seconds, where)
                return _failure(message, permanent=False)
            except _TRANSPORT_ERRORS as exc:
                return _failure(f"could not send to {where}: {_one_line(exc)}", permanent=False)


_USER_AGENT = f"feedd/{__version__}".encode()
_TRANSPORT_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol)


def _drain(response: httpcore.Response) -> None:
    """Read a short answer to its end, so that its connection may serve the next call.

    Only the status and headers matter: a long, endless or slow body is left unread and its
    connection closed (a call is never failed, nor held up long, for its body).
    """
    read = 0
    with deadline(DRAIN_SECONDS):
        try:
            for chunk in response.iter_stream():
                read += len(chunk)
                if read > DRAIN_MAX_BYTES:
                    return
        except (httpcore.TimeoutException, *_TRANSPORT_ERRORS):
            return


def send_webhook(
    target: WebhookTarget,
    delivery_id: str,
    body: bytes,
    *,
    allow_private: bool,
    now: Callable[[], float] = time.time,
) -> SendResult:
    """One call on a client of its own (``feedd`` verbs that send once; tests)."""
    with WebhookClient(target, allow_private=allow_private) as client:
        return client.send(delivery_id, body, now=now)


def _timeout_message(
    exc: httpcore.TimeoutException, deadline: Deadline, seconds: float, where: str
) -> str:
    if deadline.passed():
        total = seconds * TOTAL_DEADLINE_FACTOR
        return f"no complete answer from {where} within {total:g} s; gave up"
    if isinstance(exc, httpcore.ConnectTimeout):
        return f"timed out after {seconds:g} s connecting to {where}"
    return f"timed out after {seconds:g} s waiting for {where}"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
