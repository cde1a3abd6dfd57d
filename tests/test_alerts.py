"""The stale-inbox alert of a running ``feedd run``: one notice per quiet spell, to the [alerts]
webhook (verified with standardwebhooks), never repeated by a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.test_daemon import Daemon
from tests.test_deliveries import KD, SECRET, Receiver, drop

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def alerts(receiver: Receiver) -> list[dict[str, object]]:
    return [call for call in receiver.calls if call["type"] == "feedd.alert"]


def test_a_stale_inbox_is_reported_once_per_quiet_spell(tmp_path: Path, receiver: Receiver) -> None:
    daemon = Daemon(
        tmp_path,
        f"sqlite:///{tmp_path / 'feedd.db'}",
        "[delivery]\nallow_private_targets = true\n"
        f'[webhooks.ops]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
        '[alerts]\nwebhooks = ["ops"]\n'
        '[[subscriptions]]\nname = "kd"\nquery = \'"knowledge distillation"\'\n',
    )
    daemon.config.write_text(
        daemon.config.read_text().replace(
            "rescan_seconds = 2\n", 'rescan_seconds = 2\nstale_after = "2s"\n'
        )
    )
    daemon.start()
    try:
        wait_for(lambda: len(alerts(receiver)) == 1, timeout=30)
        (first,) = alerts(receiver)
        assert first["alert"] == "inbox.stale"
        assert first["last_dump_at"] is None
        assert daemon.logged("No new dump has been stored for a while") == 1

        drop(daemon, "a.txt", [("Tiny Students", KD)])
        wait_for(lambda: len(alerts(receiver)) == 2, timeout=30)
        assert alerts(receiver)[1]["last_dump_at"] is not None
        assert daemon.stop() == 0

        # Restarted within the same quiet spell: it was reported; a new spell is.
        daemon.start()
        drop(daemon, "b.txt", [("Smaller Students", KD)])
        wait_for(lambda: len(alerts(receiver)) == 3, timeout=30)
        last_dumps = [call["last_dump_at"] for call in alerts(receiver)]
        assert len(set(last_dumps)) == 3
    finally:
        if daemon.running():
            daemon.stop()
        print("".join(daemon.lines))
