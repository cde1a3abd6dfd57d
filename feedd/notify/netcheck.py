"""Open webhook connections only to public addresses, and only within a total deadline.

The address check has to sit where the socket is opened. Checking a name and then letting the
HTTP client resolve it again would let a DNS-rebinding receiver answer the check with a public
address and the connect with 127.0.0.1. So :class:`GuardedBackend` (an httpcore network backend)
resolves the name once, checks every address it has, and connects to one of those very
addresses; TLS (SNI and certificate check) and the ``Host`` header still use the name, because
httpcore takes them from the URL, not from the backend.

The same backend wraps every stream so that no single call outlives its deadline: httpx's
timeouts are per read, so a receiver that drips one byte every few seconds would otherwise hold
a worker forever. A kept-alive connection serves one call after another, so the deadline is not
the stream's but the calling thread's: :func:`deadline` sets it around each call.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


class AddressRefused(Exception):
    """The target resolves to an address a webhook may not reach."""

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        if _literal(host) == address:
            message = f"{host} is {_article(reason)} {reason} address"
        else:
            message = f"{host} resolves to {address}, {_article(reason)} {reason} address"
        super().__init__(message)
        self.message = message


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" and not word.startswith("uni") else "a"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64 or 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (e.g. "loopback"), or None if it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = non_public_reason(embedded)
            if reason is not None or address.sixtofour is None:
                # Mapped and NAT64 addresses reach exactly the embedded IPv4 host.
                return reason
        if address.is_site_local:
            return "site-local"
        if address in _UNIQUE_LOCAL:
            return "unique-local"
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-public"),
    )
    return next((reason for failed, reason in checks if failed), None)


class Deadline:
    """A point in monotonic time after which no socket operation may wait any longer."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds

    def passed(self) -> bool:
        return self._clock() >= self._at

    def before(self, other: Deadline) -> bool:
        return self._at < other._at

    def clamp(self, timeout: float | None) -> float:
        """``timeout`` cut down to the time left; ReadTimeout if none is left."""
        left = self._at - self._clock()
        if left <= 0:
            raise httpcore.ReadTimeout("the total deadline for this call has passed")
        return left if timeout is None else min(timeout, left)


_CURRENT: ContextVar[Deadline | None] = ContextVar("feedd_call_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Every socket operation of this thread inside the block ends ``seconds`` from now at the
    latest (a nested block may only shorten that)."""
    own = Deadline(seconds)
    outer = _CURRENT.get()
    token = _CURRENT.set(own if outer is None or own.before(outer) else outer)
    try:
        yield own
    finally:
        _CURRENT.reset(token)


def _clamp(timeout: float | None) -> float | None:
    current = _CURRENT.get()
    return timeout if current is None else current.clamp(timeout)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, refuse non-public addresses (unless allowed), connect to a checked address."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not self._allow_private:
            for address in addresses:
                reason = non_public_reason(address)
                if reason is not None:
                    raise AddressRefused(host, address, reason)
        last_error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_clamp(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream)
        assert last_error is not None  # resolve() never returns an empty list
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
    return addresses
