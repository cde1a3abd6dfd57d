"""E-mail digests: build one multipart/alternative message and send it over SMTP.

Everything in a digest comes from a dump, so nothing in it is trusted: every header value is cut
to one line of printable characters (a title cannot add a ``Bcc:``), and the HTML part is rendered
by Jinja2 with autoescaping, with links only for http(s) URLs.

Two traps of the standard library shape the header code:

- ``email.policy.SMTP`` folds every header it renders at 78 columns, and a token too long to fold
  (a URL) is rewritten as RFC 2047 encoded-words, which breaks ``List-Unsubscribe``. The headers
  whose exact bytes matter (``Message-ID``, ``List-Id``, ``List-Unsubscribe``) are therefore
  stored with ``set_raw`` as checked ASCII, and the policy has ``refold_source="none"`` so they
  are written verbatim.
- ``ssl.create_default_context(cafile=...)`` trusts *only* that file. ``ca_file`` is meant as an
  extra bundle, so it is loaded on top of the system store.

Sending runs smtplib in the calling thread; the caller puts it on a worker thread.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Literal
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# Raw-stored headers are written as they are; headers set through msg[...] still fold at 78.
_POLICY = SMTP_POLICY.clone(refold_source="none")
_MSGID_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_MAX_TITLE = 150
_MAX_NAMES = 10
_ERROR_LIMIT = 500
# Control characters (CR, LF, NUL, ESC, NEL ...), line/paragraph separators and lone surrogates.
_BREAKS = frozenset({"Cc", "Zl", "Zp", "Cs"})
# SMTP 5xx replies that mean "log in first / wrong login": a settings problem, not a verdict on
# the message, so the delivery is retried once the admin fixes [smtp] username/password.
_AUTH_CODES = frozenset({530, 534, 535, 538})

_templates = Environment(
    loader=PackageLoader("feedd.notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send; verification is always on for ``starttls`` and ``tls``."""

    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    username: str | None
    password: str | None
    from_address: str
    domain: str  # right-hand side of Message-ID and List-Id, e.g. "feedd.example.org"
    timeout_seconds: float = 30.0
    ca_file: str | None = None  # trusted in addition to the system CA store


@dataclass(frozen=True)
class DigestPaper:
    title: str
    url: str
    authors: tuple[str, ...]
    authors_count: int | None
    organisation: str | None
    published: date | None
    upvotes: int | None
    abstract: str
    code_urls: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    delivery_id: str
    subscription_name: str
    subscription_title: str
    feed_url: str
    unsubscribe_url: str
    papers: tuple[DigestPaper, ...]


@dataclass(frozen=True)
class SendResult:
    """``permanent`` means the server refused this message for good: do not retry it."""

    ok: bool
    permanent: bool
    error: str | None


@dataclass(frozen=True)
class _PaperView:
    """A paper as the templates show it: cleaned strings, links only for http(s)."""

    title: str
    url: str
    link: str | None
    byline: str
    published: str | None
    upvotes: str | None
    paragraphs: tuple[str, ...]
    wrapped_abstract: str
    code_links: tuple[tuple[str, str | None], ...]


# --- building -------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """``text`` as one line: control and line-separator characters become spaces, runs collapse."""
    cleaned = "".join(" " if unicodedata.category(ch) in _BREAKS else ch for ch in text)
    return " ".join(cleaned.split())


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _http_link(url: str) -> str | None:
    """The URL, cleaned, if it is http(s) with a host; anything else must not become a link."""
    url = _one_line(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _byline(paper: DigestPaper) -> str:
    names = [name for name in (_one_line(a) for a in paper.authors) if name]
    total = max(paper.authors_count or 0, len(names))
    if names:
        shown = ", ".join(names[:_MAX_NAMES])
        byline = shown if total <= _MAX_NAMES else f"{shown} and {total - _MAX_NAMES:,} more"
    elif total:
        byline = f"{total:,} author{'s' if total != 1 else ''}"
    else:
        byline = ""
    organisation = _one_line(paper.organisation or "")
    if organisation:
        return f"{byline} ({organisation})" if byline else organisation
    return byline


def _paragraphs(abstract: str) -> tuple[str, ...]:
    blocks = re.split(r"\n\s*\n", abstract.replace("\r\n", "\n").replace("\r", "\n"))
    return tuple(p for p in (_one_line(block) for block in blocks) if p)


def _paper_view(paper: DigestPaper) -> _PaperView:
    paragraphs = _paragraphs(paper.abstract)
    upvotes = paper.upvotes
    return _PaperView(
        title=_one_line(paper.title) or "(untitled)",
        url=_one_line(paper.url),
        link=_http_link(paper.url),
        byline=_byline(paper),
        published=paper.published.isoformat() if paper.published else None,
        upvotes=None if upvotes is None else f"{upvotes:,} upvote{'s' if upvotes != 1 else ''}",
        paragraphs=paragraphs,
        wrapped_abstract="\n\n".join(textwrap.fill(p, width=72) for p in paragraphs),
        code_links=tuple((_one_line(url), _http_link(url)) for url in paper.code_urls),
    )


def _ascii_url(url: str) -> str:
    """A URL fit to sit verbatim between ``<`` and ``>`` in a header."""
    return quote(_one_line(url), safe=_URL_SAFE)


def _list_id(digest: Digest, domain: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", digest.subscription_name.lower()).strip("-")
    title = _truncate(_one_line(digest.subscription_title), 80)
    if title.isascii():
        phrase = '"' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = " ".join(Header(title, "utf-8").encode(linesep=" ").split())
    return f"{phrase} <{label or 'subscription'}.{domain}>"


def _subject(digest: Digest) -> str:
    count = len(digest.papers)
    title = _truncate(_one_line(digest.subscription_title), _MAX_TITLE)
    return f"[feedd] {count} new paper{'s' if count != 1 else ''}: {title}"


def build_message(
    digest: Digest, to: str, smtp: SmtpConfig, *, now: datetime | None = None
) -> EmailMessage:
    """The digest as one multipart/alternative message; ValueError for an empty digest or an
    id/domain that cannot form a Message-ID (both are caller bugs or unchecked settings)."""
    if not digest.papers:
        raise ValueError("an empty digest is never sent")
    if not _MSGID_PART.fullmatch(digest.delivery_id):
        raise ValueError(f"delivery id {digest.delivery_id!r} cannot be used in a Message-ID")
    if not _DOMAIN.fullmatch(smtp.domain):
        raise ValueError(f"[smtp] domain {smtp.domain!r} is not a host name")
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = _subject(digest)
    message["From"] = _one_line(smtp.from_address)
    message["To"] = _one_line(to)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message.set_raw("Message-ID", f"<{digest.delivery_id}@{smtp.domain}>")
    message.set_raw("List-Id", _list_id(digest, smtp.domain))
    message.set_raw("List-Unsubscribe", f"<{_ascii_url(digest.unsubscribe_url)}>")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    context = {
        "subject": _subject(digest),
        "title": _one_line(digest.subscription_title),
        "papers": [_paper_view(paper) for paper in digest.papers],
        "feed_url": _one_line(digest.feed_url),
        "feed_link": _http_link(digest.feed_url),
        "unsubscribe_url": _one_line(digest.unsubscribe_url),
        "unsubscribe_link": _http_link(digest.unsubscribe_url),
    }
    message.set_content(_templates.get_template("digest.txt").render(context))
    message.add_alternative(_templates.get_template("digest.html").render(context), subtype="html")
    return message


# --- sending --------------------------------------------------------------------------------


class _NoStartTLS(Exception):
    """The server does not offer STARTTLS; sending in clear instead is never an option."""


def _tls_context(smtp: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context


def _open(smtp: SmtpConfig, context: ssl.SSLContext | None) -> smtplib.SMTP:
    """A connected client. The host goes to the constructor, not to ``connect()``: smtplib takes
    the name it checks the certificate against (also for STARTTLS) from the constructor only."""
    if smtp.security == "tls":
        return smtplib.SMTP_SSL(smtp.host, smtp.port, context=context, timeout=smtp.timeout_seconds)
    return smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)


def _transact(
    client: smtplib.SMTP,
    message: EmailMessage,
    smtp: SmtpConfig,
    context: ssl.SSLContext | None,
) -> None:
    if smtp.security == "starttls":
        client.ehlo()
        if not client.has_extn("starttls"):
            raise _NoStartTLS
        client.starttls(context=context)
        client.ehlo()
    if smtp.username:
        client.login(smtp.username, smtp.password or "")
    refused = client.send_message(message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def send_email(message: EmailMessage, smtp: SmtpConfig) -> SendResult:
    """Send ``message`` once; the result says whether a retry could ever help."""
    try:
        context = _tls_context(smtp) if smtp.security != "none" else None
    except (OSError, ssl.SSLError) as exc:
        return _failure(smtp, False, f"cannot load [smtp] ca_file {smtp.ca_file!r}: {exc}")
    try:
        client = _open(smtp, context)
        try:
            _transact(client, message, smtp, context)
        finally:
            _quit(client)
    except Exception as exc:
        permanent, error = _classify(exc, smtp)
        return _failure(smtp, permanent, error)
    return SendResult(ok=True, permanent=False, error=None)


def _reply(code: int, text: bytes | str) -> str:
    decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {decoded}"


def _classify(exc: Exception, smtp: SmtpConfig) -> tuple[bool, str]:
    """(permanent, message) for a failed send."""
    where = f"{smtp.host}:{smtp.port}"
    match exc:
        case _NoStartTLS():
            return False, (
                f"SMTP server {where} does not offer STARTTLS; nothing was sent. "
                "Check [smtp] host, port and security (use 'tls' for port 465)"
            )
        case ssl.SSLCertVerificationError():
            return False, (
                f"certificate verify failed for SMTP server {where}: {exc.verify_message}; "
                "set [smtp] ca_file or fix the server certificate"
            )
        case smtplib.SMTPRecipientsRefused():
            codes = [code for code, _ in exc.recipients.values()]
            replies = "; ".join(
                f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items()
            )
            permanent = all(code >= 500 and code not in _AUTH_CODES for code in codes)
            return permanent, f"SMTP server {where} refused the recipient: {replies}"
        case smtplib.SMTPAuthenticationError():
            return False, (
                f"SMTP login to {where} failed ({_reply(exc.smtp_code, exc.smtp_error)}); "
                "check [smtp] username and password"
            )
        case smtplib.SMTPConnectError():
            return False, f"SMTP server {where} refused the connection: " + _reply(
                exc.smtp_code, exc.smtp_error
            )
        case smtplib.SMTPResponseException():
            permanent = exc.smtp_code >= 500 and exc.smtp_code not in _AUTH_CODES
            return permanent, f"SMTP server {where} replied {_reply(exc.smtp_code, exc.smtp_error)}"
        case smtplib.SMTPServerDisconnected():
            return False, f"SMTP server {where} closed the connection: {exc}"
        case smtplib.SMTPException():
            return False, f"SMTP exchange with {where} failed: {exc}"
        case ssl.SSLError():
            return False, f"TLS with SMTP server {where} failed: {exc}; check [smtp] security"
        case TimeoutError():
            return False, f"SMTP server {where} timed out after {smtp.timeout_seconds:g} s"
        case OSError():
            return False, f"cannot reach SMTP server {where}: {exc}; check [smtp] host and port"
    return False, f"sending to SMTP server {where} failed: {type(exc).__name__}: {exc}"


def _failure(smtp: SmtpConfig, permanent: bool, error: str) -> SendResult:
    error = _one_line(error)
    if smtp.password:
        error = error.replace(smtp.password, "***")
    return SendResult(ok=False, permanent=permanent, error=_truncate(error, _ERROR_LIMIT))
