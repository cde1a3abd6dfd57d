"""E-mail and Apprise through a running ``feedd run``: a real SMTP server (aiosmtpd), the
unsubscribe link served by the daemon, a digest caught up at start-up, and ``deliveries test``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from feedd.store.models import digest_windows
from tests.helpers import wait_for
from tests.test_cli import feedd
from tests.test_daemon import Daemon
from tests.test_deliveries import GRAPHS, KD, SECRET, Receiver, deliveries, drop
from tests.test_notify_email import Recorder

pytestmark = pytest.mark.slow

ADDRESS = "reader@example.org"


def settings(smtp_port: int, receiver_url: str, schedule: str = "immediate") -> str:
    return (
        '[delivery]\nallow_private_targets = true\nretry_schedule = ["0.3s"]\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'from_address = "Paper alerts <feedd@example.org>"\n'
        f'[webhooks.hook]\nurl = "{receiver_url}"\nsecret = "{SECRET}"\n'
        '[[subscriptions]]\nname = "kd"\ntitle = "Distillation"\n'
        f'query = \'"knowledge distillation"\'\nschedule = "{schedule}"\n'
        f'email_to = ["{ADDRESS}"]\nwebhooks = ["hook"]\n'
    )


def parsed(recorder: Recorder, index: int) -> EmailMessage:
    content = recorder.envelopes[index].original_content
    assert isinstance(content, bytes)
    message = message_from_bytes(content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(extra: str) -> Daemon:
        d = Daemon(tmp_path, f"sqlite:///{tmp_path / 'feedd.db'}", extra)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        if d.running():
            d.stop()
        print("".join(d.lines))


def test_immediate_email_with_a_working_unsubscribe_link(
    daemon_factory: Any, serve: Any, receiver: Receiver
) -> None:
    recorder = Recorder()
    daemon = daemon_factory(settings(serve(recorder), receiver.url))
    drop(daemon, "a.txt", [("Tiny <b>Students</b>", KD), ("Graph Things", GRAPHS)])
    wait_for(lambda: len(recorder.envelopes) == 1, timeout=20)
    message = parsed(recorder, 0)
    assert recorder.envelopes[0].rcpt_tos == [ADDRESS]
    assert message["Subject"] == "[feedd] 1 new paper: Distillation"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",))
    assert html is not None
    assert "Tiny &lt;b&gt;Students&lt;/b&gt;" in html.get_content()
    row = next(d for d in deliveries(daemon) if d["channel"] == f"email:{ADDRESS}")
    assert message["Message-ID"] == f"<{row['delivery_id']}@example.org>"
    link = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"])
    assert link is not None
    assert link[1].startswith(f"{daemon.url}/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # A GET (a link scanner) only shows the page; the POST unsubscribes.
    page = httpx.get(link[1])
    assert page.status_code == 200
    assert "<form" in page.text
    assert ADDRESS in page.text
    assert httpx.get(f"{daemon.url}/unsubscribe/not-a-token").status_code == 404
    drop(daemon, "b.txt", [("Smaller Students", KD)])
    wait_for(lambda: len(recorder.envelopes) == 2, timeout=20)  # still subscribed
    one_click = httpx.post(link[1], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert "no more e-mail" in one_click.text

    calls = len(receiver.calls)
    drop(daemon, "c.txt", [("Smallest Students", KD)])
    wait_for(lambda: len(receiver.calls) == calls + 1, timeout=20)  # the webhook still fires
    channels = [d["channel"] for d in deliveries(daemon)]
    assert channels.count(f"email:{ADDRESS}") == 2  # none queued for c.txt
    assert len(recorder.envelopes) == 2

    resumed = feedd(
        "subs", "resume", "kd", ADDRESS, "--config", str(daemon.config), cwd=daemon.workdir
    )
    assert resumed.returncode == 0, resumed.stderr
    again = feedd(
        "subs", "resume", "kd", ADDRESS, "--config", str(daemon.config), cwd=daemon.workdir
    )
    assert again.returncode == 2
    assert "has not unsubscribed" in again.stderr
    drop(daemon, "d.txt", [("Tiniest Students", KD)])
    wait_for(lambda: len(recorder.envelopes) == 3, timeout=20)
    assert "Tiniest Students" in parsed(recorder, 2).get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_digest_missed_while_stopped_is_sent_at_start_up(
    daemon_factory: Any, serve: Any, receiver: Receiver, tmp_path: Path
) -> None:
    recorder = Recorder()
    daemon = daemon_factory(settings(serve(recorder), receiver.url, schedule="0 8 * * *"))
    drop(daemon, "a.txt", [("Tiny Students", KD)])
    wait_for(lambda: daemon.logged("Dump ingested"), timeout=20)
    assert daemon.stop() == 0
    assert recorder.envelopes == []
    assert receiver.calls == []
    # Pretend the daemon was stopped since yesterday morning: a fire time (08:00) has passed.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'feedd.db'}")
    with engine.begin() as conn:
        yesterday = datetime.now(UTC) - timedelta(days=1, hours=1)
        conn.execute(digest_windows.update().values(delivered_until=yesterday))
    engine.dispose()
    daemon.start()
    wait_for(lambda: len(recorder.envelopes) == 1 and len(receiver.calls) == 1, timeout=20)
    assert "Tiny Students" in parsed(recorder, 0).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [p["title"] for p in receiver.calls[0]["papers"]] == ["Tiny Students"]  # type: ignore[index]
    assert {d["kind"] for d in deliveries(daemon)} == {"digest"}
    # Restarted again: that window was delivered; nothing goes out twice.
    assert daemon.stop() == 0
    daemon.start()
    wait_for(lambda: daemon.logged("feedd is running") == 2, timeout=20)
    assert len(deliveries(daemon)) == 2


class JsonReceiver:
    """What Apprise's json:// service posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_apprise_urls_are_notified(daemon_factory: Any, serve: Any, receiver: Receiver) -> None:
    apprise = JsonReceiver()
    try:
        daemon = daemon_factory(
            '[[subscriptions]]\nname = "kd"\ntitle = "Distillation"\n'
            "query = '\"knowledge distillation\"'\n"
            f'apprise_urls = ["json://127.0.0.1:{apprise.port}/notify"]\n'
        )
        drop(daemon, "a.txt", [("Tiny Students", KD)])
        wait_for(lambda: len(apprise.bodies) == 1, timeout=20)
        (row,) = deliveries(daemon)
        assert str(row["channel"]).startswith("apprise:")
        assert "127.0.0.1" not in row["channel"]
        wait_for(lambda: deliveries(daemon)[0]["status"] == "sent", timeout=10)
    finally:
        apprise.close()
    assert apprise.bodies[0]["title"] == "1 new paper: Distillation"
    assert "Tiny Students" in apprise.bodies[0]["message"]


def test_deliveries_test_sends_a_sample_to_each_kind(
    tmp_path: Path, serve: Any, receiver: Receiver
) -> None:
    recorder = Recorder()
    config = tmp_path / "settings.toml"
    config.write_text(settings(serve(recorder), receiver.url))
    apprise = JsonReceiver()

    def run(*args: str) -> Any:
        return feedd("deliveries", "test", *args, "--config", str(config), cwd=tmp_path)

    try:
        email = run(f"email:{ADDRESS}")
        hook = run("hook")
        chat = run(f"json://127.0.0.1:{apprise.port}/x")
    finally:
        apprise.close()
    assert email.returncode == 0, email.stderr
    assert hook.returncode == 0, hook.stderr
    assert chat.returncode == 0, chat.stderr
    assert "127.0.0.1" not in chat.stdout  # Apprise URLs carry tokens; never echoed
    assert len(recorder.envelopes) == 1
    assert recorder.envelopes[0].rcpt_tos == [ADDRESS]
    assert len(receiver.calls) == 1
    assert len(apprise.bodies) == 1
    assert "sample paper" in receiver.calls[0]["papers"][0]["title"]  # type: ignore[index]

    unknown = run("webhook:nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "feedd: deliveries test 'webhook:nope': there is no [webhooks.nope] table (webhooks: hook)"
    ]
    refused = feedd(
        "deliveries",
        "test",
        ADDRESS,
        "--config",
        str(config),
        cwd=tmp_path,
        env={"FEEDD_SMTP__PORT": "1"},
    )
    assert refused.returncode == 1
    assert "cannot reach SMTP server 127.0.0.1:1" in refused.stderr
    assert "Traceback" not in refused.stderr
