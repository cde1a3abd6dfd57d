"""Settings: the only reader of the settings file, the environment and credential files.

Sources, strongest first:

1. environment variables ``FEEDD_<SECTION>__<KEY>`` (``FEEDD_INBOX__SETTLE_SECONDS=2``);
2. credential files: ``$CREDENTIALS_DIRECTORY/<section>.<key>`` (systemd ``LoadCredential=``),
   and ``<key>_file = "/path"`` next to any secret key in the settings file;
3. the TOML settings file (``--config``, else ``$FEEDD_CONFIG``, else ``/etc/feedd/settings.toml``
   when it exists), whose relative paths resolve against the file's own folder;
4. built-in defaults that work in the current folder.

Everything is validated here, at start-up; a problem becomes one ``ConfigError`` line naming the
key, the value (masked when secret) and what is allowed.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feedd.errors import ConfigError
from feedd.match import QueryError, compile_query
from feedd.notify.apprise_channel import validate_apprise_url
from feedd.notify.schedule import parse_schedule
from feedd.notify.webhook import validate_secret

DEFAULT_CONFIG_PATH = Path("/etc/feedd/settings.toml")
HTTP_URL = re.compile(r"^https?://[^/\s]+")
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    {("storage", "database_url"), ("smtp", "password")}
)

# The file source's data for the load in progress; pydantic-settings builds sources from the
# class, so the per-call data travels in a context variable rather than a global.
_file_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("_file_data")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(Section):
    database_url: str = Field(
        default="sqlite:///feedd.db",
        description=(
            "SQLAlchemy URL of the database: sqlite:///path/to/feedd.db (WAL mode) or "
            "postgresql+psycopg://user@host/dbname. Secret: may come from database_url_file "
            "or the credential storage.database_url."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        try:
            url = sa.make_url(value)
        except sa.exc.ArgumentError:
            raise ValueError(
                "is not a database URL; use sqlite:///PATH or postgresql+psycopg://…"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                "names an unsupported database; use sqlite:/// or postgresql+psycopg://"
            )
        if url.get_backend_name() == "postgresql":
            if url.drivername == "postgresql":  # no driver named: use the one feedd ships with
                return url.set(drivername="postgresql+psycopg").render_as_string(
                    hide_password=False
                )
            if url.get_driver_name() != "psycopg":
                raise ValueError("must use the psycopg driver: postgresql+psycopg://…")
        return value


class InboxSettings(Section):
    path: Path = Field(default=Path("inbox"), description="Folder watched for new dump files.")
    archive_path: Path | None = Field(
        default=None,
        description="Where ingested dumps are moved; default: the archive/ folder inside path.",
    )
    rejected_path: Path | None = Field(
        default=None,
        description=(
            "Where unreadable files are moved, each beside <name>.error.txt saying why; "
            "default: the rejected/ folder inside path."
        ),
    )
    settle_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description=(
            "A file is taken once unchanged for this long (or at once when its writer closes it "
            "or renames it into place)."
        ),
    )
    rescan_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86400,
        description="Interval of the full rescan that catches files whose events were missed.",
    )
    polling: bool = Field(
        default=False,
        description="Poll the folder instead of using inotify; needed on NFS, SMB and FUSE mounts.",
    )
    poll_interval_seconds: float = Field(
        default=1.0, gt=0, le=600, description="How often the folder is polled when polling = true."
    )
    stale_after: str | None = Field(
        default="36h",
        description=(
            "When no new dump has been stored for this long, log a warning and send one notice "
            'to the [alerts] receivers (a duration such as 36h, or "off").'
        ),
    )

    @field_validator("stale_after")
    @classmethod
    def _stale_duration(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "off":
            return None
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise ValueError('must be a duration such as 36h, or "off"') from None
        if seconds < 1:
            raise ValueError("must be at least 1s")
        return value

    @property
    def stale_after_seconds(self) -> float | None:
        return duration_seconds(self.stale_after) if self.stale_after else None

    @property
    def archive(self) -> Path:
        return self.archive_path or self.path / "archive"

    @property
    def rejected(self) -> Path:
        return self.rejected_path or self.path / "rejected"

    @model_validator(mode="after")
    def _distinct_folders(self) -> InboxSettings:
        folders = {"path": self.path, "archive_path": self.archive, "rejected_path": self.rejected}
        seen: dict[Path, str] = {}
        for key, folder in folders.items():
            resolved = folder.resolve()
            if resolved in seen:
                raise ValueError(f"{key} and {seen[resolved]} must be different folders")
            seen[resolved] = key
        return self


class HttpSettings(Section):
    listen: str = Field(
        default="127.0.0.1:8080",
        description="host:port of the HTTP server (feeds, /opml, /healthz); [::1]:8080 for IPv6.",
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "The public URL of feedd, used in feed links and OPML "
            "(e.g. https://papers.example.org); default: http://<listen>."
        ),
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, port = split_listen(value)
        if not host or not 0 <= port <= 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None and not HTTP_URL.match(value):
            raise ValueError("must be an absolute http(s) URL such as https://papers.example.org")
        return value.rstrip("/") if value else value

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


def split_listen(value: str) -> tuple[str, int]:
    """("127.0.0.1", 8080) from "127.0.0.1:8080", ("::1", 80) from "[::1]:80"; port -1 if bad."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    return host, int(port) if port.isdigit() else -1


class FeedsSettings(Section):
    max_items: int = Field(
        default=50, ge=1, le=1000, description="Entries in each feed, newest first."
    )
    output_dir: Path | None = Field(
        default=None,
        description=(
            "Also write every feed and opml.xml to this folder (atomically) after each ingest, "
            "for nginx or any web server to serve; unset: feeds are served over HTTP only."
        ),
    )
    link_template: str = Field(
        default="https://huggingface.co/papers/{arxiv_id}",
        description="Entry link when the paper's arXiv id is known; {arxiv_id} is replaced.",
    )
    search_template: str = Field(
        default="https://huggingface.co/papers?q={title}",
        description="Entry link when no arXiv id is known; {title} is replaced, URL-encoded.",
    )

    @field_validator("link_template")
    @classmethod
    def _has_arxiv_id(cls, value: str) -> str:
        if "{arxiv_id}" not in value:
            raise ValueError("must contain {arxiv_id}")
        return value

    @field_validator("search_template")
    @classmethod
    def _has_title(cls, value: str) -> str:
        if "{title}" not in value:
            raise ValueError("must contain {title}")
        return value


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float:
    """Seconds in "5s", "5m", "2h", "1d"; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 5s, 30m, 2h")
    return float(match[1]) * _DURATION_SECONDS[match[2]]


class DeliverySettings(Section):
    allow_private_targets: bool = Field(
        default=False,
        description=(
            "Allow webhooks to loopback, private and link-local addresses (tests, single-host "
            "setups); off, such targets are refused so a webhook URL cannot reach internal hosts."
        ),
    )
    retry_schedule: list[str] = Field(
        default_factory=lambda: ["5s", "5m", "30m", "2h", "5h", "10h"],
        description=(
            "Waits before each retry of a failed delivery (with ±20% jitter); after the last one "
            "a delivery is dead, kept, and `feedd deliveries retry ID` sends it again."
        ),
    )
    workers: int = Field(
        default=16,
        ge=1,
        le=64,
        description=(
            "Deliveries sent at the same time by this process; one receiver gets at most three "
            "quarters of them, so one that hangs leaves the rest to the others."
        ),
    )
    lease_seconds: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description=(
            "How long a claimed delivery stays this process's; it renews the lease every third "
            "of it while the send lasts, so after a crash the delivery is sent again this soon."
        ),
    )

    @field_validator("retry_schedule")
    @classmethod
    def _durations(cls, value: list[str]) -> list[str]:
        for item in value:
            duration_seconds(item)
        return value

    @property
    def retry_waits(self) -> tuple[float, ...]:
        return tuple(duration_seconds(item) for item in self.retry_schedule)


class WebhookSettings(Section):
    url: str = Field(description="Where the POST goes: an http(s) URL.")
    secret: str = Field(
        description=(
            "Signing secret, whsec_<base64> (Standard Webhooks). Secret: may come from "
            "secret_file or the credential webhooks.<name>.secret."
        )
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="A call taking longer is a failed attempt."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not HTTP_URL.match(value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        validate_secret(value)
        return value


_DEFAULT_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class SmtpSettings(Section):
    host: str = Field(description="The SMTP server that sends e-mail digests.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Its port; default: 587 for starttls, 465 for tls, 25 for none.",
    )
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description=(
            "starttls (upgrade a plain connection, port 587), tls (implicit TLS, port 465) or "
            "none (plain text; only for a relay on the same host). The server's certificate is "
            "always verified."
        ),
    )
    username: str | None = Field(default=None, description="Login name; unset: no login.")
    password: str | None = Field(
        default=None,
        description=(
            "Login password. Secret: may come from password_file or the credential smtp.password."
        ),
    )
    from_address: str = Field(
        description='The sender: "feedd@example.org" or "Paper alerts <feedd@example.org>".'
    )
    domain: str | None = Field(
        default=None,
        description=(
            "Right-hand side of Message-ID and List-Id; default: the domain of from_address."
        ),
    )
    ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM bundle of extra CAs to trust (for a server with a private CA), on top of the "
            "system's."
        ),
    )
    timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="A connection or reply taking longer fails."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or any(ch.isspace() or ch in "/:@" for ch in value):
            raise ValueError("must be a host name or address such as smtp.example.org")
        return value

    @field_validator("from_address")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not EMAIL.match(parseaddr(value)[1]) or any(ch in value for ch in "\r\n"):
            raise ValueError('must be an address such as "Paper alerts <feedd@example.org>"')
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not DOMAIN.match(value):
            raise ValueError("must be a host name such as feedd.example.org")
        return value

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_SMTP_PORTS[self.security]

    @property
    def effective_domain(self) -> str:
        return self.domain or parseaddr(self.from_address)[1].rpartition("@")[2]


def check_addresses(value: list[str]) -> list[str]:
    for address in value:
        if not EMAIL.match(address):
            raise ValueError(f"{address!r} is not an e-mail address")
    return value


def check_apprise_urls(value: list[str]) -> list[str]:
    for number, url in enumerate(value, 1):
        try:
            validate_apprise_url(url)
        except ValueError as exc:
            raise ValueError(f"URL #{number} ({masked_url(url)}) {exc}") from None
    return value


class AlertsSettings(Section):
    webhooks: list[str] = Field(
        default_factory=list, description="Names of [webhooks.<name>] tables that get alerts."
    )
    email_to: list[str] = Field(
        default_factory=list, description="Addresses that get alerts (needs [smtp])."
    )
    apprise_urls: list[str] = Field(
        default_factory=list, description="Apprise URLs that get alerts."
    )

    _addresses = field_validator("email_to")(check_addresses)
    _apprise_urls = field_validator("apprise_urls")(check_apprise_urls)


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Least severe log level written to stdout."
    )


SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
RESERVED_NAMES = frozenset({"all"})  # /feeds/all.rss is every paper


class SubscriptionSettings(Section):
    name: str = Field(
        description="A slug (lower-case letters, digits, - and _): the feed is /feeds/<name>.rss."
    )
    title: str | None = Field(
        default=None, description="Shown in feeds and e-mails; default: the name."
    )
    query: str = Field(description="What to match, in the query language of the README.")
    timezone: str = Field(default="UTC", description="IANA time zone of the cron schedule.")
    schedule: str = Field(
        default="immediate",
        description='"immediate", "every 30m" / "every 6h", or a cron expression "0 8 * * 1-5".',
    )
    webhooks: list[str] = Field(
        default_factory=list, description="Names of [webhooks.<name>] tables to call."
    )
    email_to: list[str] = Field(default_factory=list, description="Addresses that get digests.")
    apprise_urls: list[str] = Field(
        default_factory=list, description="Apprise URLs (Slack, Matrix, ntfy, …) to notify."
    )
    renamed_from: str | None = Field(
        default=None,
        description="The subscription's previous name, so its matches carry over to the new name.",
    )

    @field_validator("name", "renamed_from")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG.match(value):
            raise ValueError("must be a slug: lower-case letters, digits, '-' and '_', 1-64 chars")
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved (it is the feed of every paper)")
        return value

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        try:
            compile_query(value)
        except QueryError as exc:
            raise ValueError(exc.one_line()) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as 'Europe/Berlin' or 'UTC'") from None
        return value

    _addresses = field_validator("email_to")(check_addresses)
    _apprise_urls = field_validator("apprise_urls")(check_apprise_urls)

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str, info: ValidationInfo) -> str:
        timezone = info.data.get("timezone")
        parse_schedule(value, timezone or "UTC")  # a bad timezone is reported on its own
        return value

    @property
    def display_title(self) -> str:
        return self.title or self.name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FEEDD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Where papers, dumps and matches are kept."
    )
    inbox: InboxSettings = Field(
        default_factory=InboxSettings, description="The watched folder and where files go next."
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="The HTTP server inside feedd run."
    )
    feeds: FeedsSettings = Field(
        default_factory=FeedsSettings, description="RSS, Atom and JSON feeds and static export."
    )
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings, description="How deliveries are sent and retried."
    )
    webhooks: dict[str, WebhookSettings] = Field(
        default_factory=dict, description="Named webhook receivers: [webhooks.<name>]."
    )
    smtp: SmtpSettings | None = Field(
        default=None, description="The SMTP server for e-mail; needed by email_to."
    )
    alerts: AlertsSettings = Field(
        default_factory=AlertsSettings,
        description="Where feedd's own alerts go (a stale inbox), besides the log.",
    )
    log: LogSettings = Field(default_factory=LogSettings, description="Logging to stdout.")
    subscriptions: list[SubscriptionSettings] = Field(
        default_factory=list, description="What to match and where to deliver it."
    )

    @model_validator(mode="after")
    def _known_receivers(self) -> Settings:
        """Every webhook a subscription or [alerts] names exists; e-mail has an [smtp] table."""
        receivers: list[tuple[str, SubscriptionSettings | AlertsSettings]] = [
            (f"subscription {sub.name!r}", sub) for sub in self.subscriptions
        ]
        receivers.append(("[alerts]", self.alerts))
        for who, wants in receivers:
            for name in wants.webhooks:
                if name not in self.webhooks:
                    known = ", ".join(sorted(self.webhooks)) or "none defined"
                    raise ValueError(
                        f"{who} names webhook {name!r}, which has no "
                        f"[webhooks.{name}] table (webhooks: {known})"
                    )
            if wants.email_to and self.smtp is None:
                raise ValueError(
                    f"{who} sends e-mail (email_to), but there is no [smtp] "
                    "table; add one with host and from_address"
                )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for sub in self.subscriptions:
            for name in filter(None, (sub.name, sub.renamed_from)):
                if name in seen:
                    raise ValueError(f"subscription name {name!r} is used twice")
                seen.add(name)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _DictSource(settings_cls, _credentials()),
            _DictSource(settings_cls, _file_data.get({})),
        )


class _DictSource(PydanticBaseSettingsSource):
    """A source that hands pydantic-settings an already-read nested dict."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


def _credentials() -> dict[str, Any]:
    """Secrets that systemd handed over with LoadCredential=<section>.<key>:…"""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    data: dict[str, Any] = {}
    if not folder:
        return data
    for section, key in SECRET_KEYS:
        path = Path(folder) / f"{section}.{key}"
        if path.is_file():
            data.setdefault(section, {})[key] = _read_secret(path, f"[{section}] {key}")
    for path in Path(folder).glob("webhooks.*.secret"):
        name = path.name.removeprefix("webhooks.").removesuffix(".secret")
        secret = _read_secret(path, f"[webhooks.{name}] secret")
        data.setdefault("webhooks", {}).setdefault(name, {})["secret"] = secret
    return data


def _read_secret(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"settings: {what}: cannot read secret file {path}: {exc.strerror}"
        ) from None


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The settings file to read: --config, else $FEEDD_CONFIG, else the system file if present."""
    for candidate, origin in (
        (explicit, "--config"),
        (os.environ.get("FEEDD_CONFIG"), "FEEDD_CONFIG"),
    ):
        if candidate:
            path = Path(candidate)
            if not path.is_file():
                raise ConfigError(
                    f"settings: {origin} names {path}, which is not a readable file; "
                    "check the path (settings.example.toml shows every key)"
                )
            return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read, merge and validate every source; ConfigError (one line) when anything is wrong."""
    path = config_path(explicit)
    data = _read_file(path) if path else {}
    token = _file_data.set(data)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, data)) from None
    finally:
        _file_data.reset(token)
    return _absolute(settings)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"settings: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"settings: {path} is not valid TOML: {exc}") from None
    _load_secret_files(data, path.parent)
    _resolve_paths(data, path.parent)
    return data


def _load_secret_files(data: dict[str, Any], base: Path) -> None:
    """Replace ``<key>_file = "path"`` by the secret that file holds."""
    tables = [(section, key, data.get(section)) for section, key in SECRET_KEYS]
    webhooks = data.get("webhooks")
    if isinstance(webhooks, dict):
        tables += [(f"webhooks.{name}", "secret", table) for name, table in webhooks.items()]
    for section, key, table in tables:
        if isinstance(table, dict) and isinstance(table.get(f"{key}_file"), str):
            secret_path = base / table.pop(f"{key}_file")
            table[key] = _read_secret(secret_path, f"[{section}] {key}_file")


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file mean 'next to the settings file', not 'wherever feedd started'."""
    inbox = data.get("inbox")
    if isinstance(inbox, dict):
        for key in ("path", "archive_path", "rejected_path"):
            if isinstance(inbox.get(key), str):
                inbox[key] = str(base / Path(inbox[key]).expanduser())
    feeds = data.get("feeds")
    if isinstance(feeds, dict) and isinstance(feeds.get("output_dir"), str):
        feeds["output_dir"] = str(base / Path(feeds["output_dir"]).expanduser())
    smtp = data.get("smtp")
    if isinstance(smtp, dict) and isinstance(smtp.get("ca_file"), str):
        smtp["ca_file"] = str(base / Path(smtp["ca_file"]).expanduser())
    storage = data.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("database_url"), str):
        storage["database_url"] = _absolute_sqlite_url(storage["database_url"], base)


def _absolute_sqlite_url(value: str, base: Path) -> str:
    try:
        url = sa.make_url(value)
    except sa.exc.ArgumentError:
        return value  # the validator reports it with the key's name
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return value
    return url.set(database=str(base / Path(url.database).expanduser())).render_as_string(
        hide_password=False
    )


def _absolute(settings: Settings) -> Settings:
    """Pin relative defaults and environment values to the folder feedd was started in."""
    cwd = Path.cwd()
    inbox = settings.inbox
    absolute_inbox = inbox.model_copy(
        update={
            "path": cwd / inbox.path,
            "archive_path": cwd / inbox.archive,
            "rejected_path": cwd / inbox.rejected,
        }
    )
    storage = settings.storage.model_copy(
        update={"database_url": _absolute_sqlite_url(settings.storage.database_url, cwd)}
    )
    feeds = settings.feeds
    if feeds.output_dir is not None:
        feeds = feeds.model_copy(update={"output_dir": cwd / feeds.output_dir})
    return settings.model_copy(update={"inbox": absolute_inbox, "storage": storage, "feeds": feeds})


def _describe(exc: ValidationError, path: Path | None, data: dict[str, Any]) -> str:
    """The first problem as one line: key, value (masked if secret), what is allowed."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    origin = f" in {path}" if path else ""
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    message = error["msg"].removeprefix("Value error, ")
    if loc[:1] == ["subscriptions"] and len(loc) > 1 and loc[1].isdigit():
        name = _subscription_name(data, int(loc[1]))
        key = ".".join(loc[2:])
        what = f"[[subscriptions]] {name}" + (f" {key}" if key else "")
        if error["type"] == "extra_forbidden":
            return f"settings: unknown key {what}{origin}; settings.example.toml lists every key"
        value = f" = {error['input']!r}" if key and key != "apprise_urls" else ""
        return f"settings: {what}{value}{origin}: {message}{more}"
    if not loc:
        return f"settings{origin}: {message}{more}"
    section, key = loc[0], ".".join(loc[1:])
    name = f"[{section}] {key}".strip()
    if error["type"] == "extra_forbidden":
        env = "FEEDD_" + "__".join(part.upper() for part in loc)
        return (
            f"settings: unknown key {name}{origin} (or {env}); "
            "settings.example.toml lists every key"
        )
    secret = (
        (section, key) in SECRET_KEYS
        or (section == "webhooks" and key.endswith("secret"))
        or key.startswith("apprise_urls")
    )
    value = "****" if secret else repr(error.get("input"))
    return f"settings: {name} = {value}{origin}: {message}{more}"


def _subscription_name(data: dict[str, Any], index: int) -> str:
    """How a person finds the subscription in the file: its name, else its position."""
    subscriptions = data.get("subscriptions")
    if isinstance(subscriptions, list) and index < len(subscriptions):
        entry = subscriptions[index]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            return repr(entry["name"])
    return f"#{index + 1}"


def masked_url(url: str) -> str:
    """An Apprise or webhook URL with everything after the scheme hidden: they carry tokens."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://****" if sep else "****"


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret replaced by ****."""
    data = settings.model_dump(mode="json")
    data["storage"]["database_url"] = sa.make_url(settings.storage.database_url).render_as_string(
        hide_password=True
    )
    for table in data["webhooks"].values():
        table["secret"] = "****"
    for sub in [*data["subscriptions"], data["alerts"]]:
        sub["apprise_urls"] = [masked_url(url) for url in sub["apprise_urls"]]
    if data["smtp"] and data["smtp"]["password"]:
        data["smtp"]["password"] = "****"
    return data
