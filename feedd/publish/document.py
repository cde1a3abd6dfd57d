"""A rendered response, ready to send, and the HTTP rules for sending it.

Everything a request could need is computed once, when the document is rendered: the gzip body,
both ETags and all four header lists. Answering a poll is then a header scan and a choice
between prepared values; nothing is compressed, hashed or formatted per request.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from feedd.publish.common import utc

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    gzip_body: bytes
    etag: bytes  # strong, quoted: b'"<hash>"'
    gzip_etag: bytes  # the gzip variant is a different representation, so a different tag
    last_modified: datetime | None
    headers: Headers  # 200, identity
    gzip_headers: Headers  # 200, gzip
    not_modified_headers: Headers  # 304, identity
    gzip_not_modified_headers: Headers  # 304, gzip


def make_document(
    body: bytes, content_type: str, last_modified: datetime | None, max_age: int
) -> Document:
    # mtime=0 keeps the gzip bytes a function of the body alone.
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    etag, gzip_etag = f'"{digest}"'.encode(), f'"{digest}-gzip"'.encode()
    common: Headers = [
        (b"cache-control", f"public, max-age={max_age}".encode()),
        (b"vary", b"Accept-Encoding"),
    ]
    if last_modified is not None:
        last_modified = utc(last_modified)
        stamp = format_datetime(last_modified, usegmt=True).encode()
        common.append((b"last-modified", stamp))
    kind = (b"content-type", content_type.encode())
    return Document(
        body=body,
        gzip_body=packed,
        etag=etag,
        gzip_etag=gzip_etag,
        last_modified=last_modified,
        headers=[kind, (b"etag", etag), *common, _length(body)],
        gzip_headers=[
            kind,
            (b"etag", gzip_etag),
            (b"content-encoding", b"gzip"),
            *common,
            _length(packed),
        ],
        not_modified_headers=[(b"etag", etag), *common],
        gzip_not_modified_headers=[(b"etag", gzip_etag), *common],
    )


def respond(
    document: Document, method: str, request_headers: Iterable[tuple[bytes, bytes]]
) -> tuple[int, Headers, bytes]:
    """Status, headers and body for a GET or HEAD of ``document``."""
    accept_encoding = if_none_match = if_modified_since = None
    for name, value in request_headers:
        if name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match":
            if_none_match = value
        elif name == b"if-modified-since":
            if_modified_since = value
    packed = accept_encoding is not None and accepts_gzip(accept_encoding)
    if _not_modified(document, if_none_match, if_modified_since):
        headers = document.gzip_not_modified_headers if packed else document.not_modified_headers
        return 304, headers, b""
    body = document.gzip_body if packed else document.body
    headers = document.gzip_headers if packed else document.headers
    return 200, headers, b"" if method == "HEAD" else body


def accepts_gzip(accept_encoding: bytes) -> bool:
    """True when gzip (or *) is listed without q=0."""
    wildcard = False
    for item in accept_encoding.lower().split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding not in (b"gzip", b"*"):
            continue
        acceptable = not _q_is_zero(params)
        if coding == b"gzip":
            return acceptable
        wildcard = acceptable
    return wildcard


def _q_is_zero(params: bytes) -> bool:
    for param in params.split(b";"):
        key, _, value = param.strip().partition(b"=")
        if key.strip() == b"q":
            try:
                return float(value.strip()) == 0
            except ValueError:
                return False
    return False


def _not_modified(
    document: Document, if_none_match: bytes | None, if_modified_since: bytes | None
) -> bool:
    # RFC 9110 13.2.2: when If-None-Match is present, If-Modified-Since is ignored.
    if if_none_match is not None:
        return _etag_matches(document, if_none_match)
    if if_modified_since is None or document.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored, as RFC 9110 asks
    if since.tzinfo is None:
        return False
    return document.last_modified <= since


def _etag_matches(document: Document, if_none_match: bytes) -> bool:
    """Weak comparison (what If-None-Match uses), against either variant's tag."""
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        tag = tag.removeprefix(b"W/")
        if tag in (document.etag, document.gzip_etag):
            return True
    return False


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())
