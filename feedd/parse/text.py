"""Text helpers every dump format shares: the paper key and code links found in an abstract.

Both run once per paper of every dump, so both have a fast path for the common case.
"""

from __future__ import annotations

import re
import unicodedata

# Hosts whose links count as "code" (SPEC §2). A subdomain counts too (www.github.com), but
# project pages such as github.io do not: they are websites, not repositories.
CODE_HOSTS: frozenset[str] = frozenset(
    {
        "github.com",
        "gitlab.com",
        "huggingface.co",
        "hf.co",
        "bitbucket.org",
        "codeberg.org",
        "sourceforge.net",
        "gitee.com",
        "git.sr.ht",
    }
)
# Hugging Face also serves paper pages; those are not code, models or data.
_NOT_CODE_PATHS: dict[str, str] = {"huggingface.co": "/papers", "hf.co": "/papers"}

# \W is "not alphanumeric and not underscore", so [\W_] is exactly "not str.isalnum()".
_NON_ALNUM = re.compile(r"[\W_]+")
# The same for ASCII as a byte table that also lower-cases: three times faster than the regex.
_ASCII_KEY_TABLE = bytes(
    ord(chr(byte).lower()) if byte < 128 and chr(byte).isalnum() else ord(" ")
    for byte in range(256)
)

_SEPARATOR = re.compile("://")  # re's literal search beats str.find for this needle
# What follows "://" in a URL: everything up to whitespace or a character that cannot appear
# unescaped in one. Square brackets end it, so a Markdown link "[url](url)" gives two URLs.
_URL_REST = re.compile(r"[^\s<>\"'\[\]{}|\\^`]+")
_TRAILING_PUNCTUATION = frozenset(".,;:!?'\"*…")


def paper_key(title: str) -> str:
    """A paper's identity: NFKC, case-folded, every run of non-alphanumerics one space, trimmed."""
    if title.isascii():  # already NFKC, and casefold() is lower() on it: most titles
        return b" ".join(title.encode("ascii").translate(_ASCII_KEY_TABLE).split()).decode("ascii")
    folded = unicodedata.normalize("NFKC", title).casefold()
    return _NON_ALNUM.sub(" ", folded).strip()


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace (newlines included) as one space, trimmed."""
    return " ".join(text.split())


def find_code_urls(text: str) -> tuple[str, ...]:
    """The http(s) links to code hosts in ``text``, de-duplicated, in order of first appearance."""
    # Most abstracts hold no "/" at all, which a memchr finds out; and finding "://" and then
    # looking back for the scheme is several times faster than searching for a URL pattern.
    slash = text.find("/")
    if slash < 1:
        return ()
    found: dict[str, None] = {}
    separator = _SEPARATOR.search(text, slash - 1)
    while separator is not None:
        at = separator.start()
        start = _scheme_start(text, at)
        rest = _URL_REST.match(text, at + 3)
        if start >= 0 and rest is not None:
            url = _trim(text[start : rest.end()])
            if _is_code_link(url, at + 3 - start):
                found.setdefault(url, None)
        separator = _SEPARATOR.search(text, at + 3)
    return tuple(found)


def _scheme_start(text: str, separator: int) -> int:
    """Where "http" or "https" (any case) begins right before "://", or -1."""
    for scheme in ("https", "http"):
        start = separator - len(scheme)
        if start >= 0 and text[start:separator].lower() == scheme:
            # "(https://" and " https://" start a URL; "xhttps://" does not.
            return start if start == 0 or not text[start - 1].isalnum() else -1
    return -1


def _trim(url: str) -> str:
    """Drop the sentence punctuation and unbalanced closing brackets that follow a URL in prose."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION or (last == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


def _is_code_link(url: str, authority_start: int) -> bool:
    """True when the URL's host is a code host and it points somewhere below the host's root."""
    end = len(url)
    for delimiter in "/?#":
        found = url.find(delimiter, authority_start)
        if 0 <= found < end:
            end = found
    path = url[end:]
    # "https://github.com/" alone names no repository, so it is not a code link.
    if not path.strip("/"):
        return False
    authority = url[authority_start:end]
    host = _code_host(authority.rpartition("@")[2].partition(":")[0].lower().rstrip("."))
    if host is None:
        return False
    excluded = _NOT_CODE_PATHS.get(host)
    return excluded is None or not path.startswith(excluded)


def _code_host(host: str) -> str | None:
    """The code host that ``host`` is or is a subdomain of, or None."""
    while host not in CODE_HOSTS:
        dot = host.find(".")
        if dot < 0:
            return None
        host = host[dot + 1 :]
    return host
