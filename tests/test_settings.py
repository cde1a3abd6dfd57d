"""Settings: sources and their order, relative paths, secrets, and one-line errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from feedd.errors import ConfigError
from feedd.settings import Settings, load_settings, masked

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FEEDD_CONFIG", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_work_in_the_current_folder(tmp_path: Path) -> None:
    settings = load_settings(None)
    assert settings.storage.database_url == f"sqlite:///{tmp_path / 'feedd.db'}"
    assert settings.inbox.path == tmp_path / "inbox"
    assert settings.inbox.archive == tmp_path / "inbox" / "archive"
    assert settings.inbox.rejected == tmp_path / "inbox" / "rejected"


def test_relative_paths_in_the_file_resolve_against_its_folder(tmp_path: Path) -> None:
    config = write(
        tmp_path / "etc" / "feedd.toml",
        '[storage]\ndatabase_url = "sqlite:///state/feedd.db"\n'
        '[inbox]\npath = "drop"\nrejected_path = "/srv/bad"\n',
    )
    settings = load_settings(config)
    assert settings.storage.database_url == f"sqlite:///{tmp_path / 'etc' / 'state' / 'feedd.db'}"
    assert settings.inbox.path == tmp_path / "etc" / "drop"
    assert settings.inbox.archive == tmp_path / "etc" / "drop" / "archive"
    assert settings.inbox.rejected == Path("/srv/bad")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "s.toml", "[inbox]\nsettle_seconds = 5\nrescan_seconds = 7\n")
    monkeypatch.setenv("FEEDD_INBOX__SETTLE_SECONDS", "0.5")
    settings = load_settings(config)
    assert settings.inbox.settle_seconds == 0.5
    assert settings.inbox.rescan_seconds == 7


def test_feedd_config_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "s.toml", '[log]\nlevel = "debug"\n')
    monkeypatch.setenv("FEEDD_CONFIG", str(config))
    assert load_settings(None).log.level == "debug"


@pytest.mark.parametrize("variable", [False, True])
def test_a_missing_config_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: bool
) -> None:
    missing = tmp_path / "nope.toml"
    if variable:
        monkeypatch.setenv("FEEDD_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=r"nope\.toml, which is not a readable file"):
        load_settings(None if variable else missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[inbox]\nsettle_seconds = "soon"\n', "[inbox] settle_seconds = 'soon'"),
        ("[inbox]\nsettle_seconds = -1\n", "greater than 0"),
        ("[inbox]\nsetle_seconds = 1\n", "unknown key [inbox] setle_seconds"),
        ("[inbx]\npath = 'x'\n", "unknown key [inbx]"),
        ('[log]\nlevel = "loud"\n', "[log] level = 'loud'"),
        ("[delivery]\nlease_seconds = 2\n", "[delivery] lease_seconds = 2"),
        ('[inbox]\npath = "a"\narchive_path = "a"\n', "must be different folders"),
        ("[inbox\n", "is not valid TOML"),
        ('[storage]\ndatabase_url = "mysql://u@h/d"\n', "unsupported database"),
        ('[storage]\ndatabase_url = "postgresql+asyncpg://u@h/d"\n', "postgresql+psycopg://"),
        (
            '[[subscriptions]]\nname = "kd"\nquery = "x"\nemail_to = ["a@b.org"]\n',
            "subscription 'kd' sends e-mail (email_to), but there is no [smtp] table",
        ),
        ('[smtp]\nhost = "mail.example.org"\n', "[smtp] from_address"),
        (
            '[smtp]\nhost = "mail.example.org"\nfrom_address = "nobody"\n',
            "[smtp] from_address = 'nobody'",
        ),
        (
            '[smtp]\nhost = "m.example.org"\nfrom_address = "a@b.org"\nsecurity = "ssl"\n',
            "[smtp] security = 'ssl'",
        ),
        (
            '[[subscriptions]]\nname = "kd"\nquery = "x"\nemail_to = ["not-an-address"]\n',
            "'not-an-address' is not an e-mail address",
        ),
    ],
)
def test_bad_values_give_one_line_naming_key_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = write(tmp_path / "s.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_bad_secret_is_never_echoed(tmp_path: Path) -> None:
    config = write(
        tmp_path / "s.toml", '[storage]\ndatabase_url = "oracle://scott:tiger-secret@db/x"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "tiger-secret" not in str(caught.value)
    assert "[storage] database_url = ****" in str(caught.value)


def test_smtp_defaults_follow_the_security_and_the_password_is_masked(tmp_path: Path) -> None:
    write(tmp_path / "smtp-password", "hunter2-secret\n")
    config = write(
        tmp_path / "s.toml",
        '[smtp]\nhost = "mail.example.org"\nsecurity = "tls"\nusername = "feedd"\n'
        'password_file = "smtp-password"\nfrom_address = "Alerts <feedd@lab.example.org>"\n',
    )
    smtp = load_settings(config).smtp
    assert smtp is not None
    assert (smtp.effective_port, smtp.effective_domain) == (465, "lab.example.org")
    assert smtp.password == "hunter2-secret"
    assert "hunter2" not in str(masked(load_settings(config)))


def test_a_bad_apprise_url_is_named_without_its_token(tmp_path: Path) -> None:
    config = write(
        tmp_path / "s.toml",
        '[[subscriptions]]\nname = "kd"\nquery = "x"\n'
        'apprise_urls = ["ntfy://topic", "nosuchservice://tok3n-secret@host"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "[[subscriptions]] 'kd' apprise_urls" in message
    assert "URL #2 (nosuchservice://****)" in message
    assert "tok3n" not in message


def test_postgresql_url_without_driver_uses_psycopg(tmp_path: Path) -> None:
    config = write(tmp_path / "s.toml", '[storage]\ndatabase_url = "postgresql://u@h/d"\n')
    assert load_settings(config).storage.database_url == "postgresql+psycopg://u@h/d"


def test_secret_from_a_file_next_to_the_key(tmp_path: Path) -> None:
    write(tmp_path / "db-url", "postgresql+psycopg://feedd:s3cret@db.example/feedd\n")
    config = write(tmp_path / "s.toml", '[storage]\ndatabase_url_file = "db-url"\n')
    settings = load_settings(config)
    assert settings.storage.database_url == "postgresql+psycopg://feedd:s3cret@db.example/feedd"
    assert "s3cret" not in str(masked(settings))


def test_secret_from_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "creds"
    write(credentials / "storage.database_url", "postgresql+psycopg://feedd:pw@db/feedd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings(None)
    assert settings.storage.database_url == "postgresql+psycopg://feedd:pw@db/feedd"


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    config = write(tmp_path / "s.toml", '[storage]\ndatabase_url_file = "missing"\n')
    with pytest.raises(ConfigError, match=r"\[storage\] database_url_file: cannot read"):
        load_settings(config)


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _documented_keys(model: type[BaseModel], example: dict[str, object], prefix: str) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        assert field.description, f"{prefix}{name} has no description"
        annotation = field.annotation
        optional = [arg for arg in get_args(annotation) if arg is not type(None)]
        if get_origin(annotation) in (Union, UnionType) and len(optional) == 1:
            annotation = optional[0]  # an optional section is documented like any other
        if get_origin(annotation) is dict and _is_model(get_args(annotation)[1]):
            tables = example.get(name)
            assert isinstance(tables, dict), f"no [{name}.<name>] example"
            assert tables, f"no [{name}.<name>] example"
            first = next(iter(tables.values()))
            missing += _documented_keys(get_args(annotation)[1], first, f"[{name}.*] ")
        elif get_origin(annotation) is list and _is_model(get_args(annotation)[0]):
            tables = example.get(name)
            assert isinstance(tables, list), f"settings.example.toml has no [[{name}]] table"
            missing += _documented_keys(get_args(annotation)[0], tables[0], f"[[{name}]] ")
        elif _is_model(annotation):
            section = example.get(name)
            assert isinstance(section, dict), f"settings.example.toml has no [{name}] section"
            missing += _documented_keys(annotation, section, f"[{name}] ")
        elif name not in example:
            missing.append(f"{prefix}{name}")
    return missing


def test_example_file_documents_every_key_and_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / "settings.example.toml").read_text(encoding="utf-8")
    # Optional keys are documented as comments; uncomment them to check they are present.
    uncommented = re.sub(r"(?m)^# ([a-z_]+ = |\[[a-z_.-]+\]$)", r"\1", text)
    example = tomllib.loads(uncommented)
    assert _documented_keys(Settings, example, "") == []
    monkeypatch.chdir(REPO)
    load_settings(REPO / "settings.example.toml")
