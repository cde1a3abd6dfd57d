"""systemd/: the unit verifies cleanly, its hardening holds, the sysusers and tmpfiles snippets
apply, and the three agree with each other, with feedd's settings and with the README."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from feedd.settings import SECRET_KEYS, Settings
from tests.conftest import REPO

SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "feedd.service"
SYSUSERS = SYSTEMD / "feedd.sysusers"
TMPFILES = SYSTEMD / "feedd.tmpfiles"
EXEC_PATH = "/opt/feedd/bin/feedd"
# Highest acceptable `systemd-analyze security` exposure (0 = locked down, 10 = none at all).
MAX_EXPOSURE = 2.0


def tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/bin/{name}") if Path(p).exists()), None
    )
    if path is None:
        pytest.skip(f"{name} is not installed (it comes with systemd); systemd/ untested")
    return path


def directives(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment in a unit file, in order."""
    section, found = "", []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key, value))
    return found


def values(key: str) -> list[str]:
    return [value for _, k, value in directives(UNIT) if k == key]


def unit_with_stand_in(folder: Path, text: str | None = None) -> Path:
    """A copy of the unit whose ExecStart names an executable that exists on this machine."""
    stand_in = folder / "feedd"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    text = UNIT.read_text() if text is None else text
    assert text.count(f"ExecStart={EXEC_PATH} ") == 1
    copy = folder / "feedd.service"
    copy.write_text(text.replace(f"ExecStart={EXEC_PATH} ", f"ExecStart={stand_in} "))
    return copy


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True, check=False
    )


def test_systemd_analyze_verify_reports_nothing(tmp_path: Path) -> None:
    result = verify(unit_with_stand_in(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_verify_would_report_a_mistake(tmp_path: Path) -> None:
    # The check above can fail: a misspelt key is reported (on stderr, with exit status 0).
    broken = UNIT.read_text().replace("ProtectHome=true", "ProtectHomes=true")
    result = verify(unit_with_stand_in(tmp_path, broken))
    assert "Unknown key 'ProtectHomes'" in result.stderr


def test_hardening_exposure_is_low(tmp_path: Path) -> None:
    result = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=true", str(unit_with_stand_in(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for feedd\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("path", [UNIT, SYSUSERS, TMPFILES], ids=lambda p: p.name)
def test_every_line_is_commented(path: Path) -> None:
    previous = ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            assert previous.startswith("#"), f"{path.name}:{number}: {line!r} has no comment above"
        previous = line


def test_the_unit_has_what_the_issue_asks_for() -> None:
    found = {(key, value) for _, key, value in directives(UNIT)}
    for expected in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("ExecStart", f"{EXEC_PATH} run --config /etc/feedd/settings.toml"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("User", "feedd"),
        ("Group", "feedd"),
        ("StateDirectory", "feedd"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("NoNewPrivileges", "true"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ]:
        assert expected in found
    assert values("WatchdogSec")
    assert values("TimeoutStopSec")


def test_the_unit_and_the_snippets_agree() -> None:
    users = [line.split() for line in SYSUSERS.read_text().splitlines() if line.startswith("u ")]
    assert [fields[1] for fields in users] == values("User") == values("Group")
    made = {
        fields[1]: fields
        for fields in (line.split() for line in TMPFILES.read_text().splitlines())
        if fields and fields[0] == "d"
    }
    for path in values("ReadWritePaths"):
        assert made[path][2:5] == ["2775", "feedd", "feedd"]  # the group-writable inbox
    [state] = values("StateDirectory")
    assert f"/var/lib/{state}" in made
    assert values("WorkingDirectory") == [f"/var/lib/{state}"]


def test_credentials_are_the_names_settings_read() -> None:
    secrets = {f"{section}.{key}" for section, key in SECRET_KEYS}
    for value in values("LoadCredential"):
        name, _, source = value.partition(":")
        assert source == f"feedd.{name}"  # /etc/credstore/feedd.<name>, missing ones skipped
        section = name.split(".")[0]
        if section in Settings.model_fields:  # [smtp] arrives with e-mail delivery
            assert name in secrets, f"settings do not read the credential {name}"


def test_a_credential_reaches_the_settings(tmp_path: Path) -> None:
    # What LoadCredential=storage.database_url:… leaves in $CREDENTIALS_DIRECTORY.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    url = "postgresql+psycopg://feedd:s3cret@db.example.org/feedd"
    (credentials / "storage.database_url").write_text(url + "\n")
    (tmp_path / "settings.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    env.update(CREDENTIALS_DIRECTORY=str(credentials), FEEDD_CONFIG=str(tmp_path / "settings.toml"))
    result = subprocess.run(
        [sys.executable, "-m", "feedd", "check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 'database_url = "postgresql+psycopg://feedd:***@db.example.org/feedd"' in result.stdout


def test_the_readme_installs_what_the_unit_runs() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Run it as a service") :]
    section = section[: section.index("\n## ", 1)]
    venv = str(Path(EXEC_PATH).parent.parent)
    assert f"python3 -m venv {venv}" in section
    for installed in ("feedd.service", "feedd.sysusers", "feedd.tmpfiles"):
        assert f"systemd/{installed}" in section
    for command in (
        "systemd-sysusers",
        "systemd-tmpfiles --create",
        "systemctl enable --now feedd",
    ):
        assert command in section
    assert f"runuser -u feedd -- {EXEC_PATH} check-config" in section
    for path in values("EnvironmentFile"):
        assert path.removeprefix("-") in (REPO / "deploy" / "postgresql" / "README.md").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="applying the snippets chowns files: needs root")
def test_sysusers_and_tmpfiles_apply_to_a_fresh_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    sysusers = subprocess.run(
        [tool("systemd-sysusers"), f"--root={root}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sysusers.returncode == 0, sysusers.stderr
    assert not re.search(r"(?i)ignor|fail|invalid|warn", sysusers.stderr), sysusers.stderr
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
    }
    uid, gid = int(passwd["feedd"][2]), int(passwd["feedd"][3])
    assert passwd["feedd"][5:] == ["/var/lib/feedd", "/usr/sbin/nologin"]

    tmpfiles = subprocess.run(
        [tool("systemd-tmpfiles"), "--create", f"--root={root}", str(TMPFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (tmpfiles.returncode, tmpfiles.stderr) == (0, "")
    for path, mode in [
        ("var/spool/feedd/inbox", 0o2775),
        ("var/lib/feedd", 0o755),
        ("var/lib/feedd/public", 0o755),
        ("var/lib/feedd/public/feeds", 0o755),
    ]:
        stat = (root / path).stat()
        assert (oct(stat.st_mode & 0o7777), stat.st_uid, stat.st_gid) == (oct(mode), uid, gid)


def test_the_readmes_settings_file_is_valid(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("cat > /etc/feedd/settings.toml <<'END'\n") :]
    block = block[block.index("\n") + 1 : block.index("\nEND\n")]
    (tmp_path / "settings.toml").write_text(block)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedd",
            "check-config",
            "--config",
            str(tmp_path / "settings.toml"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The folders the unit and tmpfiles provide, not ones next to the settings file.
    assert 'database_url = "sqlite:////var/lib/feedd/feedd.db"' in result.stdout
    assert 'path = "/var/spool/feedd/inbox"' in result.stdout
    assert 'output_dir = "/var/lib/feedd/public"' in result.stdout
