"""deploy/ exercised for real: nginx with the site config in front of a running feedd, and the
PostgreSQL guide's setup script and environment file against feedd's settings and database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, REPO
from tests.helpers import wait_for
from tests.test_cli import feedd
from tests.test_daemon import Daemon, free_port

pytestmark = pytest.mark.slow

SITE = REPO / "deploy" / "nginx" / "feedd.conf"
ENV_FILE = REPO / "deploy" / "postgresql" / "feedd.env"
SETUP_SQL = REPO / "deploy" / "postgresql" / "setup.sql"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)

FEEDD_CHECK = (sys.executable, "-m", "feedd", "check-config")

# The lines of deploy/nginx/feedd.conf marked EDIT, and what the test puts there.
EDIT_LINES = ("server 127.0.0.1:8080;", "listen 80;", "root /var/lib/feedd/public;")

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    default_type application/octet-stream;
    include {work}/site.conf;
}}
"""


def render_site(feedd_port: int, nginx_port: int, root: Path) -> str:
    """The site with its EDIT lines set for this test; each must be there exactly once."""
    text = SITE.read_text()
    values = (f"server 127.0.0.1:{feedd_port};", f"listen 127.0.0.1:{nginx_port};", f"root {root};")
    for line, value in zip(EDIT_LINES, values, strict=True):
        assert text.count(line) == 1, f"{SITE} should contain the EDIT line {line!r} once"
        text = text.replace(line, value)
    return text


class Nginx:
    """nginx in the foreground with its pid, logs and temporary files in ``work``."""

    def __init__(self, work: Path, port: int, site: str) -> None:
        assert NGINX is not None
        self.work = work
        self.port = port
        (work / "site.conf").write_text(site)
        (work / "nginx.conf").write_text(NGINX_CONF.format(work=work))
        self.url = f"http://127.0.0.1:{self.port}"
        command = [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")]
        check = subprocess.run(
            [*command, "-t", "-e", str(work / "nginx-error.log")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        assert "[warn]" not in check.stderr, check.stderr
        self.proc = subprocess.Popen([*command, "-e", str(work / "nginx-error.log")])

    def wait_until_serving(self) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, self.log()
            try:
                httpx.get(self.url + "/healthz", timeout=2)
            except httpx.TransportError:
                return False
            return True

        wait_for(answers, timeout=20)

    def log(self) -> str:
        path = self.work / "nginx-error.log"
        return path.read_text() if path.exists() else "(no nginx error log)"

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: the master stops its workers too
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def open_folder() -> Iterator[Path]:
    """A folder nginx's workers (nobody, when the test runs as root) can read; tmp_path is not."""
    folder = Path(tempfile.mkdtemp(prefix="feedd-deploy-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def site(open_folder: Path, example_dumps: list[Path]) -> Iterator[tuple[Nginx, Daemon]]:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); deploy/nginx untested")
    work = open_folder / "feedd"
    work.mkdir(mode=0o755)
    daemon = Daemon(work, f"sqlite:///{work / 'feedd.db'}")
    daemon.start()
    nginx: Nginx | None = None
    try:
        for dump in example_dumps:
            shutil.copy(dump, daemon.inbox / dump.name)
        wait_for(lambda: len(daemon.folder("archive")) == len(example_dumps), timeout=60)
        public = work / "public"
        wait_for(lambda: b"<item>" in _read(public / "feeds" / "all.rss"), timeout=30)
        nginx_work = open_folder / "nginx"
        nginx_work.mkdir()
        port = free_port()
        nginx = Nginx(nginx_work, port, render_site(daemon.port, port, public))
        nginx.wait_until_serving()
        yield nginx, daemon
    finally:
        if nginx is not None:
            nginx.stop()
            print(nginx.log())
        daemon.stop()
        print("".join(daemon.lines))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def nginx_etag(path: Path) -> str:
    """nginx's ETag of a static file: its mtime and size in hex."""
    stat = path.stat()
    return f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'


@pytest.mark.parametrize(
    ("url_path", "file", "content_type"),
    [
        ("/feeds/all.rss", "feeds/all.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/all.atom", "feeds/all.atom", "application/atom+xml; charset=utf-8"),
        ("/feeds/all.json", "feeds/all.json", "application/feed+json; charset=utf-8"),
        ("/feeds/kd.rss", "feeds/kd.rss", "application/rss+xml; charset=utf-8"),
        ("/feeds/all", "feeds/all.html", "text/html; charset=utf-8"),
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/opml", "opml.xml", "text/x-opml; charset=utf-8"),
    ],
)
def test_nginx_serves_the_static_feeds_with_caching_headers(
    site: tuple[Nginx, Daemon], url_path: str, file: str, content_type: str
) -> None:
    nginx, daemon = site
    on_disk = daemon.workdir / "public" / file
    response = httpx.get(nginx.url + url_path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == on_disk.read_bytes()
    # Served from the file by nginx, not passed to feedd: nginx's validators, feedd's type.
    assert response.headers["etag"] == nginx_etag(on_disk)
    assert response.headers["last-modified"] == formatdate(on_disk.stat().st_mtime, usegmt=True)
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["content-type"] == content_type
    direct = httpx.get(daemon.url + url_path)
    assert direct.headers["content-type"] == content_type

    again = httpx.get(nginx.url + url_path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    since = httpx.get(
        nginx.url + url_path, headers={"If-Modified-Since": response.headers["last-modified"]}
    )
    assert since.status_code == 304


def test_nginx_compresses_feeds_and_revalidates_the_compressed_copy(
    site: tuple[Nginx, Daemon],
) -> None:
    nginx, daemon = site
    response = httpx.get(nginx.url + "/feeds/all.rss", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert response.content == (daemon.workdir / "public" / "feeds" / "all.rss").read_bytes()
    etag = response.headers["etag"]  # weak (W/"…"): the gzip copy is not byte-identical
    again = httpx.get(
        nginx.url + "/feeds/all.rss", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    "url_path",
    [
        "/healthz",
        "/metrics",
        "/unsubscribe/not-a-real-token",
        "/feeds/no-such-feed.rss",  # not on disk: feedd answers (and explains)
        "/feeds/",
        "/nothing/here",
    ],
)
def test_nginx_passes_everything_else_to_feedd(site: tuple[Nginx, Daemon], url_path: str) -> None:
    nginx, daemon = site
    proxied = httpx.get(nginx.url + url_path)
    direct = httpx.get(daemon.url + url_path)
    assert proxied.status_code == direct.status_code
    assert proxied.headers.get("content-type") == direct.headers.get("content-type")
    assert proxied.headers.get("cache-control") == direct.headers.get("cache-control")
    if url_path == "/healthz":
        assert proxied.status_code == 200
        assert proxied.json()["ok"] is True
    elif url_path != "/metrics":  # counters move between two scrapes
        assert proxied.text == direct.text


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments and blanks skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: {line!r} is not KEY=VALUE"
        env[key.strip()] = value.strip().strip('"')
    return env


def check_config_with_env_file(cwd: Path) -> dict[str, object]:
    """`feedd check-config` with the env file sourced by sh, as deploy/postgresql/README.md does."""
    config = cwd / "settings.toml"
    config.write_text("")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    environment.pop("CREDENTIALS_DIRECTORY", None)
    environment["FEEDD_CONFIG"] = str(config)
    result = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; shift; exec "$@"', "sh", str(ENV_FILE), *FEEDD_CHECK],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


def test_env_file_is_accepted_by_feedds_settings(tmp_path: Path) -> None:
    env = read_env_file(ENV_FILE)
    assert "FEEDD_STORAGE__DATABASE_URL" in env
    assert all(key.startswith("FEEDD_") for key in env)
    effective = check_config_with_env_file(tmp_path)
    storage, inbox = effective["storage"], effective["inbox"]
    assert isinstance(storage, dict)
    assert isinstance(inbox, dict)
    url = sa.make_url(str(storage["database_url"]))
    assert url == sa.make_url(env["FEEDD_STORAGE__DATABASE_URL"])
    assert url.get_backend_name() == "postgresql"
    assert inbox["path"] == env["FEEDD_INBOX__PATH"]
    assert inbox["polling"] is True


@pytest.fixture
def guide_database() -> Iterator[str]:
    """Role and database made by deploy/postgresql/setup.sql; the URL feedd would use."""
    if not POSTGRES_URL:
        pytest.skip("FEEDD_TEST_POSTGRES_URL is not set; PostgreSQL tests skipped")
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed; deploy/postgresql/setup.sql untested")
    admin_url = sa.make_url(POSTGRES_URL)
    name = f"feedd_guide_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    env = dict(os.environ, PGPASSWORD=admin_url.password or "")
    command = [psql, "-X", "-q", "-h", admin_url.host or "127.0.0.1"]
    command += ["-p", str(admin_url.port or 5432), "-U", admin_url.username or "postgres"]
    command += ["-d", admin_url.database or "postgres"]
    command += ["-v", f"role={name}", "-v", f"database={name}", "-v", f"password={password}"]
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        # On stdin, as the guide runs it.
        result = subprocess.run(
            command,
            input=SETUP_SQL.read_text(),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        yield admin_url.set(username=name, password=password, database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                ),
                {"name": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.mark.postgres
def test_guide_role_migrates_concurrently_and_runs_feedd(
    guide_database: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    env = {"FEEDD_STORAGE__DATABASE_URL": guide_database, "FEEDD_CONFIG": str(empty)}
    # "feedd db upgrade once": here twice at the same moment, as two machines might.
    base = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    upgrades = [
        subprocess.Popen(
            [sys.executable, "-m", "feedd", "db", "upgrade"],
            cwd=tmp_path,
            env={**base, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in upgrades]
    assert [proc.returncode for proc in upgrades] == [0, 0], outputs
    again = feedd("db", "upgrade", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout

    # The env file's settings with the guide's role in the URL: accepted, and feedd runs on it.
    checked = feedd("check-config", cwd=tmp_path, env={**read_env_file(ENV_FILE), **env})
    assert checked.returncode == 0, checked.stderr
    workdir = tmp_path / "run"
    workdir.mkdir()
    daemon = Daemon(workdir, guide_database)
    daemon.start()
    try:
        health = httpx.get(daemon.url + "/healthz").json()
        assert health["ok"] is True
    finally:
        assert daemon.stop() == 0
