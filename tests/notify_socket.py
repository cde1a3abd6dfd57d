"""A stand-in for systemd's end of the notify protocol: a datagram socket a test owns."""

from __future__ import annotations

import socket
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from tests.helpers import wait_for


class NotifySocket:
    """Receives sd_notify messages; ``address`` is what goes into ``$NOTIFY_SOCKET``.

    ``abstract=True`` binds ``@feedd-test-<random>`` (no file); otherwise a socket file in a short
    temporary folder (AF_UNIX paths are limited to 107 bytes, more than some tmp_paths).
    """

    def __init__(self, *, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        if abstract:
            name = f"feedd-test-{uuid.uuid4().hex}"
            self.sock.bind(b"\0" + name.encode())
            self.address = "@" + name
        else:
            self._folder = tempfile.TemporaryDirectory(prefix="feedd-sd-")
            path = Path(self._folder.name) / "notify"
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        """Read every datagram waiting; return all messages received so far, oldest first."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            lines = data.decode().split("\n")
            self.messages.append(dict(line.split("=", 1) for line in lines))

    def count(self, key: str, value: str = "1") -> int:
        return sum(message.get(key) == value for message in self.drain())

    def wait_for(self, key: str, value: str = "1", *, times: int = 1, timeout: float = 30) -> None:
        """Wait until ``KEY=value`` has arrived ``times`` times in all."""
        wait_for(lambda: self.count(key, value) >= times, timeout=timeout)

    def close(self) -> None:
        self.sock.close()
        if self._folder is not None:
            self._folder.cleanup()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
