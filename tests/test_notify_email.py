"""E-mail digests against a real SMTP server (aiosmtpd on 127.0.0.1), with and without TLS."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field, replace
from datetime import date
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session

from feedd.notify.email import (
    Digest,
    DigestPaper,
    SmtpConfig,
    build_message,
    send_email,
)

TO = "reader@example.com"
UNSUBSCRIBE = "https://feedd.example.org/unsubscribe/llm?token=" + "0123456789abcdef" * 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def paper(**changes: Any) -> DigestPaper:
    base = DigestPaper(
        title="Attention is all you need",
        url="https://arxiv.org/abs/1706.03762",
        authors=("Ashish Vaswani", "Noam Shazeer"),
        authors_count=8,
        organisation=None,
        published=date(2017, 6, 12),
        upvotes=42,
        abstract="The dominant sequence transduction models are based on recurrent networks.",
        code_urls=("https://github.com/tensorflow/tensor2tensor",),
    )
    return replace(base, **changes)


def digest(*papers: DigestPaper, title: str = "LLM papers") -> Digest:
    return Digest(
        delivery_id="d-7f3a",
        subscription_name="llm",
        subscription_title=title,
        feed_url="https://feedd.example.org/feeds/llm.xml",
        unsubscribe_url=UNSUBSCRIBE,
        papers=papers or (paper(),),
    )


@dataclass
class Recorder:
    """aiosmtpd handler: keeps what arrived; ``rcpt_reply`` refuses every recipient."""

    rcpt_reply: str | None = None
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def received(self) -> EmailMessage:
        assert len(self.envelopes) == 1
        content = self.envelopes[0].original_content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


def config(port: int, **changes: Any) -> SmtpConfig:
    base = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        username=None,
        password=None,
        from_address="feedd <feedd@example.org>",
        domain="feedd.example.org",
        timeout_seconds=5.0,
    )
    return replace(base, **changes)


def send(port: int, the_digest: Digest | None = None, **changes: Any) -> tuple[Any, SmtpConfig]:
    smtp = config(port, **changes)
    return send_email(build_message(the_digest or digest(), TO, smtp), smtp), smtp


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


# --- the message ----------------------------------------------------------------------------


def test_a_real_server_receives_both_parts_and_the_list_headers(serve: Any) -> None:
    recorder = Recorder()
    result, _ = send(serve(recorder), digest(paper(), paper(title="Second")))
    assert (result.ok, result.permanent, result.error) == (True, False, None)
    received = recorder.received()
    assert received.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in received.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert received.get_all("Message-ID") == ["<d-7f3a@feedd.example.org>"]
    assert received["Subject"] == "[feedd] 2 new papers: LLM papers"
    assert received["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Id"] == '"LLM papers" <llm.feedd.example.org>'
    assert received["Auto-Submitted"] == "auto-generated"
    text = received.get_body(("plain",))
    assert text is not None
    assert "https://arxiv.org/abs/1706.03762" in text.get_content()
    assert "Ashish Vaswani, Noam Shazeer" in text.get_content()
    assert "42 upvotes" in text.get_content()


def test_one_paper_has_a_singular_subject_and_a_retry_keeps_the_message_id() -> None:
    smtp = config(25)
    first = build_message(digest(), TO, smtp)
    again = build_message(digest(), TO, smtp)
    assert first["Subject"] == "[feedd] 1 new paper: LLM papers"
    assert first["Message-ID"] == again["Message-ID"] == "<d-7f3a@feedd.example.org>"


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="empty digest"):
        build_message(replace(digest(), papers=()), TO, config(25))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"authors": ("A", "B"), "authors_count": 2}, "A, B"),
        ({"authors": (), "authors_count": 3000}, "3,000 authors"),
        ({"authors": (), "authors_count": None, "organisation": "DeepMind"}, "DeepMind"),
        ({"authors": tuple("ABCDEFGHIJKL"), "authors_count": None}, "J and 2 more"),
    ],
)
def test_authors_are_names_or_a_count_or_the_organisation(
    fields: dict[str, Any], expected: str
) -> None:
    message = build_message(digest(paper(**fields)), TO, config(25))
    text = message.get_body(("plain",))
    assert text is not None
    assert expected in text.get_content()


def test_a_title_cannot_inject_a_header(serve: Any) -> None:
    recorder = Recorder()
    evil = "LLM\r\nBcc: evil@example.com\nX-Evil:\x00 yes"
    result, _ = send(serve(recorder), digest(title=evil))
    assert result.ok
    received = recorder.received()
    assert recorder.envelopes[0].rcpt_tos == [TO]
    assert received["Bcc"] is None
    assert received["X-Evil"] is None
    assert "\n" not in received["Subject"]
    assert received["Subject"] == "[feedd] 1 new paper: LLM Bcc: evil@example.com X-Evil: yes"


def test_html_from_a_dump_arrives_escaped(serve: Any) -> None:
    recorder = Recorder()
    hostile = paper(
        title="<script>alert(1)</script>",
        url="javascript:alert(2)",
        code_urls=("javascript:alert(3)",),
    )
    result, _ = send(serve(recorder), digest(hostile, title="<b>bold</b>"))
    assert result.ok
    html_part = recorder.received().get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert 'href="javascript' not in html
    assert "javascript:alert(2)" in html  # shown as text, not as a link


# --- refusals -------------------------------------------------------------------------------


def test_a_550_for_the_recipient_is_permanent(serve: Any) -> None:
    result, _ = send(serve(Recorder(rcpt_reply="550 no such user")))
    assert not result.ok
    assert result.permanent
    assert "550 no such user" in result.error


def test_a_451_for_the_recipient_is_transient(serve: Any) -> None:
    result, _ = send(serve(Recorder(rcpt_reply="451 try again later")))
    assert not result.ok
    assert not result.permanent
    assert "451" in result.error


def test_an_unreachable_server_is_transient() -> None:
    result, _ = send(free_port())
    assert not result.ok
    assert not result.permanent
    assert "cannot reach SMTP server 127.0.0.1" in result.error


# --- TLS and login --------------------------------------------------------------------------


def test_starttls_with_an_unknown_ca_fails_with_a_clear_hint(
    serve: Any, tls_server_context: ssl.SSLContext
) -> None:
    recorder = Recorder()
    port = serve(recorder, tls_context=tls_server_context)
    result, _ = send(port, security="starttls")
    assert not result.ok
    assert not result.permanent
    assert "certificate verify failed" in result.error
    assert "set [smtp] ca_file or fix the server certificate" in result.error
    assert recorder.envelopes == []


def test_starttls_succeeds_with_the_ca_file(
    serve: Any, tls_server_context: ssl.SSLContext, ca: trustme.CA, tmp_path: Path
) -> None:
    recorder = Recorder()
    port = serve(recorder, tls_context=tls_server_context, require_starttls=True)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    result, _ = send(port, security="starttls", ca_file=str(ca_file))
    assert (result.ok, result.error) == (True, None)
    assert recorder.envelopes[0].rcpt_tos == [TO]


def test_implicit_tls_verifies_against_the_ca_file(
    serve: Any, tls_server_context: ssl.SSLContext, ca: trustme.CA, tmp_path: Path
) -> None:
    recorder = Recorder()
    port = serve(recorder, ssl_context=tls_server_context)
    refused, _ = send(port, security="tls")
    assert not refused.ok
    assert "certificate verify failed" in refused.error
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    result, _ = send(port, security="tls", ca_file=str(ca_file))
    assert (result.ok, result.error) == (True, None)
    assert len(recorder.envelopes) == 1


def test_starttls_refuses_a_server_without_starttls(serve: Any) -> None:
    recorder = Recorder()
    result, _ = send(serve(recorder), security="starttls")
    assert not result.ok
    assert not result.permanent
    assert "does not offer STARTTLS" in result.error
    assert recorder.envelopes == []


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    result, _ = send(free_port(), security="tls", ca_file=str(tmp_path / "nope.pem"))
    assert not result.ok
    assert "cannot load [smtp] ca_file" in result.error


class Authenticator:
    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = auth.login == b"feedd" and auth.password == b"s3cret-pw"
        return AuthResult(success=ok, handled=False)


def test_login_with_username_and_password(serve: Any) -> None:
    recorder = Recorder()
    port = serve(recorder, authenticator=Authenticator(), auth_require_tls=False)
    result, _ = send(port, username="feedd", password="s3cret-pw")
    assert (result.ok, result.error) == (True, None)


def test_a_wrong_password_is_transient_and_never_echoed(serve: Any) -> None:
    port = serve(Recorder(), authenticator=Authenticator(), auth_require_tls=False)
    result, _ = send(port, username="feedd", password="wrong-pw")
    assert not result.ok
    assert not result.permanent
    assert "check [smtp] username and password" in result.error
    assert "wrong-pw" not in result.error
