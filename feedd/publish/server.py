"""uvicorn in a thread, for the daemon (which owns signals and logging) and for tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from feedd.errors import ConfigError


class _QuietServer(uvicorn.Server):
    # The daemon handles SIGTERM/SIGHUP itself; uvicorn must never install (or, on exit,
    # re-raise) signal handlers of its own. uvicorn >= 0.29 routes that through this hook.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Server:
    """``start()`` returns once the socket listens; ``port`` is then the real port (0 -> any)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        # log_config=None: feedd configures logging, uvicorn only logs through it. No access
        # log by default: a line per feed poll would cost more than serving the poll.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=access_log,
            lifespan="off",
            server_header=False,
        )
        self._server = _QuietServer(config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"feedd-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(1.0)
                raise ConfigError(
                    f"[http] listen: the HTTP server on {self.host}:{self.port} did not start; "
                    "see the log above for why"
                )
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> bool:
        """Finish in-flight requests, close; True when the thread ended within ``timeout``."""
        stopped = True
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout / 2)
            if self._thread.is_alive():
                self._server.force_exit = True  # drop connections that would not finish
                self._thread.join(timeout / 2)
            stopped = not self._thread.is_alive()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        return stopped

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            return socket.create_server((self.host, self.port), family=family, backlog=2048)
        except OSError as exc:
            raise ConfigError(
                f"[http] listen: cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "check that no other process uses the port and the address is local"
            ) from exc

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
