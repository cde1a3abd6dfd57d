"""Webhook sending against a real HTTP receiver on 127.0.0.1 that verifies every signature."""

from __future__ import annotations

import base64
import contextlib
import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks

from feedd import __version__
from feedd.notify import netcheck
from feedd.notify.webhook import (
    MAX_RETRY_AFTER,
    SendResult,
    WebhookClient,
    WebhookTarget,
    parse_retry_after,
    send_webhook,
    sign,
    validate_secret,
)

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
BODY = b'{"type": "papers.matched", "delivery_id": "d-1", "papers": [{"title": "caf\xc3\xa9"}]}'

Behaviour = Callable[[http.server.BaseHTTPRequestHandler], object]


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    peer: int = 0  # the caller's port: one per connection


@dataclass
class Receiver:
    port: int
    release: threading.Event
    calls: list[Call] = field(default_factory=list)
    behaviour: Behaviour = field(default=lambda handler: _respond(handler, 200))

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _respond(
    handler: http.server.BaseHTTPRequestHandler, status: int, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("content-length", "0")
    handler.end_headers()


def _make_handler(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                standardwebhooks.Webhook(SECRET).verify(body, headers)
                verified = True
            except standardwebhooks.webhooks.WebhookVerificationError:
                verified = False
            receiver.calls.append(Call(self.path, headers, body, verified, self.client_address[1]))
            receiver.behaviour(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    release = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.daemon_threads = True
    state = Receiver(port=server.server_address[1], release=release)
    server.RequestHandlerClass = _make_handler(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _target(url: str, timeout: float = 2.0) -> WebhookTarget:
    return WebhookTarget(name="lab", url=url, secret=SECRET, timeout_seconds=timeout)


def _send(
    url: str, *, allow_private: bool = True, timeout: float = 2.0, delivery_id: str = "d-1"
) -> SendResult:
    return send_webhook(_target(url, timeout), delivery_id, BODY, allow_private=allow_private)


# --- signing -------------------------------------------------------------------------------------


def test_sign_matches_standardwebhooks() -> None:
    timestamp = 1_714_000_000
    expected = standardwebhooks.Webhook(SECRET).sign(
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", datetime.fromtimestamp(timestamp, UTC), BODY.decode()
    )
    assert sign(SECRET, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp, BODY) == expected


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "must start with 'whsec_'"),
        ("whsec_not*base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "5 bytes long"),
    ],
)
def test_validate_secret_rejects_with_message_that_hides_the_secret(
    secret: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match="webhook secret") as caught:
        validate_secret(secret)
    assert complaint in str(caught.value)
    assert secret.removeprefix("whsec_") not in str(caught.value)


def test_validate_secret_accepts_a_good_one() -> None:
    validate_secret(SECRET)


def test_retry_after_forms() -> None:
    now = 1_714_000_000.0
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after("99999999999999999999999", now) == MAX_RETRY_AFTER
    date = datetime.fromtimestamp(now + 120, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(date, now) == pytest.approx(120.0)
    assert parse_retry_after("Mon, 01 Jan 1990 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- outcomes against a real receiver ----------------------------------------------------------


def test_ok_call_is_signed_and_carries_the_headers(receiver: Receiver) -> None:
    result = _send(receiver.url())
    assert result.ok
    assert (result.status, result.error, result.permanent) == (200, None, False)
    [call] = receiver.calls
    assert call.verified
    assert call.body == BODY
    assert call.headers["content-type"] == "application/json"
    assert call.headers["user-agent"] == f"feedd/{__version__}"
    assert call.headers["webhook-id"] == "d-1"
    assert abs(int(call.headers["webhook-timestamp"]) - time.time()) < 5


def test_same_delivery_id_gives_same_webhook_id(receiver: Receiver) -> None:
    _send(receiver.url(), delivery_id="dl-42")
    _send(receiver.url(), delivery_id="dl-42")
    assert [call.headers["webhook-id"] for call in receiver.calls] == ["dl-42", "dl-42"]
    assert all(call.verified for call in receiver.calls)


def test_503_is_transient_and_hides_the_url_path(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: _respond(handler, 503)
    result = _send(receiver.url("/hooks/T0KEN-in-path"))
    assert (result.ok, result.permanent, result.status) == (False, False, 503)
    assert result.error == f"HTTP 503 from http://127.0.0.1:{receiver.port}"
    assert result.retry_after is None


def test_429_with_retry_after_is_transient(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: _respond(handler, 429, {"Retry-After": "2"})
    result = _send(receiver.url())
    assert (result.ok, result.permanent, result.status, result.retry_after) == (
        False,
        False,
        429,
        2.0,
    )


def test_400_is_permanent(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: _respond(handler, 400)
    result = _send(receiver.url())
    assert (result.ok, result.permanent, result.status) == (False, True, 400)


def test_302_is_permanent_and_not_followed(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: _respond(handler, 302, {"Location": "/elsewhere"})
    result = _send(receiver.url())
    assert (result.ok, result.permanent, result.status) == (False, True, 302)
    assert "redirects are not followed" in (result.error or "")
    assert [call.path for call in receiver.calls] == ["/hook"]


def test_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: receiver.release.wait(5)
    started = time.monotonic()
    result = _send(receiver.url(), timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5
    assert (result.ok, result.permanent, result.status) == (False, False, None)
    assert result.error == f"timed out after 0.5 s waiting for http://127.0.0.1:{receiver.port}"


def test_slow_drip_receiver_is_cut_off_by_the_total_deadline(receiver: Receiver) -> None:
    def drip(handler: http.server.BaseHTTPRequestHandler) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nx-padding: " + b"a" * 100:
            if receiver.release.wait(0.1):
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return

    receiver.behaviour = drip
    started = time.monotonic()
    result = _send(receiver.url(), timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6
    assert (result.ok, result.permanent) == (False, False)
    assert "within 1 s" in (result.error or "")


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _send(f"http://127.0.0.1:{port}/")
    assert (result.ok, result.permanent, result.status) == (False, False, None)
    assert (result.error or "").startswith(f"could not send to http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("url", "secret"),
    [("ftp://hooks.example/x", SECRET), ("http://127.0.0.1/", "whsec_short")],
)
def test_bad_url_or_secret_is_permanent(url: str, secret: str) -> None:
    target = WebhookTarget(name="lab", url=url, secret=secret)
    result = send_webhook(target, "d-1", BODY, allow_private=True)
    assert (result.ok, result.permanent) == (False, True)
    assert (result.error or "").startswith("webhook 'lab': ")


# --- kept-alive connections ----------------------------------------------------------------------


def test_a_client_sends_its_calls_over_one_connection(receiver: Receiver) -> None:
    receiver.behaviour = lambda handler: _respond(handler, 200, {"Set-Cookie": "session=abc"})
    with WebhookClient(_target(receiver.url()), allow_private=True) as client:
        results = [client.send(f"d-{n}", BODY) for n in range(3)]
    assert all(result.ok for result in results)
    assert all(call.verified for call in receiver.calls)
    assert [call.headers["webhook-id"] for call in receiver.calls] == ["d-0", "d-1", "d-2"]
    assert len({call.peer for call in receiver.calls}) == 1
    assert all("cookie" not in call.headers for call in receiver.calls)


def test_a_short_answer_body_is_read_and_a_long_one_costs_only_its_connection(
    receiver: Receiver,
) -> None:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        size = 10 if handler.headers["webhook-id"] == "short" else 1_000_000
        handler.send_response(200)
        handler.send_header("content-length", str(size))
        handler.end_headers()
        with contextlib.suppress(OSError):  # the client hangs up after enough of it
            handler.wfile.write(b"x" * size)

    receiver.behaviour = answer
    with WebhookClient(_target(receiver.url()), allow_private=True) as client:
        assert [client.send(i, BODY).ok for i in ("short", "short", "long", "short")] == [True] * 4
    peers = [call.peer for call in receiver.calls]
    assert peers[0] == peers[1] == peers[2] != peers[3]


def test_a_call_that_hangs_holds_up_no_other_call_on_the_same_client(
    receiver: Receiver,
) -> None:
    def behaviour(handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.headers["webhook-id"] == "hangs":
            receiver.release.wait(10)
        _respond(handler, 200)

    receiver.behaviour = behaviour
    with WebhookClient(_target(receiver.url(), timeout=10), allow_private=True) as client:
        hung: list[SendResult] = []
        thread = threading.Thread(target=lambda: hung.append(client.send("hangs", BODY)))
        thread.start()
        wait_for_calls(receiver, 1)
        quick = [client.send(f"quick-{n}", BODY) for n in range(3)]
        still_hanging = not hung
        receiver.release.set()
        thread.join()
    assert all(result.ok for result in quick)
    assert still_hanging
    assert hung[0].ok


def test_each_call_on_a_kept_alive_connection_has_its_own_deadline(receiver: Receiver) -> None:
    def behaviour(handler: http.server.BaseHTTPRequestHandler) -> None:
        if handler.headers["webhook-id"] != "drip":
            _respond(handler, 200)
            return
        for byte in b"HTTP/1.1 200 OK\r\nx-padding: " + b"a" * 100:
            if receiver.release.wait(0.1):
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return

    receiver.behaviour = behaviour
    with WebhookClient(_target(receiver.url(), timeout=0.5), allow_private=True) as client:
        for _ in range(3):  # 3 x 0.3 s: longer than one call's 1 s deadline, all of it fine
            assert client.send("fine", BODY).ok
            time.sleep(0.3)
        started = time.monotonic()
        result = client.send("drip", BODY)
        elapsed = time.monotonic() - started
    assert len({call.peer for call in receiver.calls}) == 1
    assert elapsed < 1.6
    assert (result.ok, result.permanent) == (False, False)
    assert "within 1 s" in (result.error or "")


def wait_for_calls(receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(receiver.calls) < count:
        assert time.monotonic() < deadline, "the receiver was not called"
        time.sleep(0.01)


# --- address guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "::ffff:127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://localhost:{port}/hook", "localhost resolves to "),
    ],
)
def test_private_targets_are_refused_without_connecting(
    receiver: Receiver, template: str, expected: str
) -> None:
    result = _send(template.format(port=receiver.port), allow_private=False)
    assert (result.ok, result.permanent, result.status) == (False, True, None)
    assert (result.error or "").startswith(f"refused: {expected}")
    assert (result.error or "").endswith("set [delivery] allow_private_targets = true to allow it")
    assert receiver.calls == []


def _fake_dns(
    monkeypatch: pytest.MonkeyPatch, name: str, addresses: list[str], lookups: list[str]
) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_every_resolved_address_is_checked(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    _fake_dns(monkeypatch, "hooks.example", ["93.184.216.34", "10.0.0.5"], lookups)
    result = _send("https://hooks.example/hook", allow_private=False)
    assert result.permanent
    assert (result.error or "").startswith(
        "refused: hooks.example resolves to 10.0.0.5, a private address;"
    )


def test_connects_to_the_checked_address_and_keeps_the_host_name(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once and the socket goes to that address: no rebinding window."""
    lookups: list[str] = []
    _fake_dns(monkeypatch, "hooks.test", ["127.0.0.1"], lookups)
    result = _send(f"http://hooks.test:{receiver.port}/hook", allow_private=True)
    assert result.ok
    assert lookups == ["hooks.test"]
    assert receiver.calls[0].headers["host"] == f"hooks.test:{receiver.port}"


def test_every_new_connection_of_a_client_is_checked_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept-alive client resolves and checks the name for each connection it opens."""
    lookups: list[str] = []
    _fake_dns(monkeypatch, "hooks.test", ["127.0.0.1"], lookups)
    public = True
    real = netcheck.non_public_reason
    monkeypatch.setattr(
        netcheck, "non_public_reason", lambda address: None if public else real(address)
    )
    receiver.behaviour = lambda handler: _respond(handler, 200, {"Connection": "close"})
    url = f"http://hooks.test:{receiver.port}/hook"
    with WebhookClient(_target(url), allow_private=False) as client:
        assert client.send("d-1", BODY).ok
        public = False  # the name now resolves to a refused address
        result = client.send("d-2", BODY)
    assert lookups == ["hooks.test", "hooks.test"]
    assert result.permanent
    assert (result.error or "").startswith("refused: hooks.test resolves to 127.0.0.1")
    assert len(receiver.calls) == 1


def test_allow_private_reaches_loopback(receiver: Receiver) -> None:
    assert _send(receiver.url(), allow_private=True).ok


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("10.0.0.5", "private"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:a00:5::", "private"),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_non_public_reason(address: str, reason: str | None) -> None:
    assert netcheck.non_public_reason(ipaddress.ip_address(address)) == reason
