"""systemd's notify protocol (sd_notify(3)), spoken directly.

A message is one datagram of ``KEY=VALUE`` lines sent to the AF_UNIX socket named by
``$NOTIFY_SOCKET``: a path (``/run/systemd/notify``) or, when it starts with ``@``, an abstract
socket. Without the variable every call is a no-op, so ``feedd run`` behaves the same under a
terminal, a test or another supervisor.

The ``sdnotify`` package is not used because it swallows every error: a unit with
``Type=notify`` whose READY=1 never arrives is killed at ``TimeoutStartSec`` with nothing in the
log saying why. Here the first failure is logged as a warning (later ones at debug level, so a
broken socket cannot flood the journal), and no failure ever raises into the daemon.

    notifier = Notifier.from_environment()
    notifier.ready(status="Watching /var/spool/feedd/inbox")
    pinger = start_watchdog(notifier, healthy=lambda: source.health()["ok"] is True)
    ...
    notifier.reloading()   # on SIGHUP, then ready() once the new settings are in force
    notifier.stopping()    # on SIGTERM
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from feedd.logs import fields

log = logging.getLogger(__name__)

MonotonicClock = Callable[[], int]  # nanoseconds of CLOCK_MONOTONIC


def _monotonic_ns() -> int:
    # systemd compares MONOTONIC_USEC with its own CLOCK_MONOTONIC reading, so name the clock
    # rather than rely on time.monotonic() happening to use it.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def socket_address(value: str) -> str | bytes | None:
    """What to pass to ``sendto`` for a ``$NOTIFY_SOCKET`` value; None if it is not AF_UNIX.

    ``@name`` is the abstract socket ``\\0name``; ``/path`` is a socket file. systemd ≥ 254 may
    also hand out ``vsock:`` addresses (to virtual machines), which feedd does not speak.
    """
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3).

    None when there is no watchdog, or when ``$WATCHDOG_PID`` names another process (the
    variable was inherited from a parent that is the one being watched).
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watched = environ.get("WATCHDOG_PID", "")
    if watched and (not watched.isdigit() or int(watched) != pid):
        return None
    return int(usec) / 2 / 1_000_000


class Notifier:
    """Sends state changes to systemd; thread-safe; every method is a no-op when disabled."""

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_seconds: float | None = None,
        clock: MonotonicClock = _monotonic_ns,
    ) -> None:
        self.address = address or None
        self._target = socket_address(address) if address else None
        self._watchdog_seconds = watchdog_seconds if self._target is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._failed = False
        if self.address and self._target is None:
            log.warning(
                "NOTIFY_SOCKET is not an AF_UNIX socket address; systemd will not be notified",
                extra=fields(notify_socket=self.address),
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` with the watchdog of ``$WATCHDOG_USEC``."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"), watchdog_seconds=watchdog_interval(env, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self._target is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between pings systemd expects, or None when no watchdog is set."""
        return self._watchdog_seconds

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete: the unit becomes active."""
        return self.send("READY=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload began; systemd waits for the next ready() before ``systemctl reload`` ends."""
        usec = self._clock() // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status feedd``."""
        return self.send(*_status(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before a start, reload or stop in progress times out."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; True when it went out."""
        if self._target is None or not assignments:
            return False
        message = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.sendto(message, self._target)
            except OSError as exc:
                self._report(exc, assignments[0])
                return False
            if self._failed:
                self._failed = False
                log.info("Notifying systemd works again", extra=fields(address=self.address))
            return True

    def _report(self, exc: OSError, first: str) -> None:
        level = logging.DEBUG if self._failed else logging.WARNING
        self._failed = True
        log.log(
            level,
            "Unable to notify systemd",
            extra=fields(address=self.address, message=first, error=exc.strerror or str(exc)),
        )

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _status(text: str | None) -> tuple[str, ...]:
    # A newline would end the assignment and start a bogus one.
    return () if text is None else ("STATUS=" + " ".join(text.splitlines()),)


class WatchdogPinger(threading.Thread):
    """Sends WATCHDOG=1 every ``interval`` seconds, but only while ``healthy()`` returns True.

    Withholding the ping is the point: when the database stops answering or a stage died,
    systemd sees the watchdog run out, kills feedd and restarts it (``Restart=on-failure``).
    ``wait`` is the pause between checks; tests replace it to count beats without a clock.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval: float,
        healthy: Callable[[], bool],
        *,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        super().__init__(name="feedd-watchdog", daemon=True)
        self.notifier = notifier
        self.interval = interval
        self._healthy = healthy
        self._stopped = threading.Event()
        self._wait = wait or self._stopped.wait
        self._was_healthy = True
        self.checks = 0  # health checks done so far, for tests and debugging
        self.pings = 0

    def run(self) -> None:
        self.beat()  # at once: the interval may be most of what systemd allows
        while not self._wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """Check health once; ping when healthy."""
        error = self._check()
        healthy = error is None
        if healthy and self.notifier.watchdog():
            self.pings += 1
        if healthy != self._was_healthy:
            if healthy:
                log.info("Healthy again; pinging systemd's watchdog")
            else:
                log.warning(
                    "Unhealthy; systemd's watchdog is no longer pinged", extra=fields(error=error)
                )
            self._was_healthy = healthy
        self.checks += 1

    def _check(self) -> str | None:
        """None when healthy, else why not."""
        try:
            return None if self._healthy() else "the health check failed"
        except Exception as exc:  # a broken check means unhealthy, and must not end the thread
            return f"the health check raised {type(exc).__name__}: {exc}"

    def stop(self, timeout: float | None = None) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)


def start_watchdog(notifier: Notifier, healthy: Callable[[], bool]) -> WatchdogPinger | None:
    """Start pinging when systemd asked for a watchdog (``WatchdogSec=``); None otherwise."""
    interval = notifier.watchdog_interval()
    if interval is None:
        return None
    pinger = WatchdogPinger(notifier, interval, healthy)
    pinger.start()
    log.info("Pinging systemd's watchdog", extra=fields(interval_seconds=interval))
    return pinger
