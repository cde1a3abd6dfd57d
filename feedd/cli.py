"""The ``feedd`` command: verbs, and the one place that turns a FeeddError into a message.

Exit codes: 0 done; 1 something the user asked for failed (a rejected dump); 2 bad usage or
settings; 3 the database is unavailable; 130 interrupted.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
import tomli_w

from feedd import __version__, pipeline, store
from feedd.errors import FeeddError, UsageError
from feedd.settings import Settings, config_path, load_settings, masked

F = TypeVar("F", bound=Callable[..., Any])


def config_option(command: F) -> F:
    """``--config`` on every verb as well as on the group, so it works in either position."""
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
        help="Settings file (default: $FEEDD_CONFIG, else /etc/feedd/settings.toml if present).",
    )(command)


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def _config(ctx: click.Context) -> Path | None:
    # click hands the group's obj down to every sub-context, so one dict serves both positions.
    config: Path | None = ctx.ensure_object(dict).get("config")
    return config


def _settings(ctx: click.Context) -> Settings:
    return load_settings(_config(ctx))


@contextmanager
def _engine(settings: Settings) -> Iterator[sa.Engine]:
    """The database, migrated to the current schema (a no-op when it already is)."""
    engine = store.make_engine(settings.storage.database_url)
    try:
        store.upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="feedd")
@config_option
def cli() -> None:
    """feedd watches an inbox of paper listing dumps, stores every paper, and delivers matches.

    Settings come from --config, $FEEDD_CONFIG or /etc/feedd/settings.toml, overridden by
    FEEDD_<SECTION>__<KEY> environment variables; see settings.example.toml.
    """


@cli.command()
@config_option
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the daemon: migrate the database, watch the inbox, ingest every dump dropped in it.

    Stops cleanly on SIGTERM or Ctrl-C, finishing the file in hand.
    """
    from feedd import daemon  # keeps watchdog out of the short-lived verbs

    settings = _settings(ctx)
    ctx.exit(daemon.run(settings, config_path(_config(ctx))))


@cli.command()
@config_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.pass_context
def ingest(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest dump files once, without moving them, and print what each one added."""
    settings = _settings(ctx)
    outcomes: list[tuple[Path, store.StoreOutcome]] = []
    with _engine(settings) as engine, _progress(files) as advance:
        for path in files:
            outcomes.append((path, pipeline.ingest_file(engine, path, progress=advance)))
    if as_json:
        _echo_json(_ingest_json(outcomes))
    else:
        _print_ingest(outcomes)
    if any(outcome.status == "rejected" for _, outcome in outcomes):
        ctx.exit(1)


@contextmanager
def _progress(files: tuple[Path, ...]) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal (stderr), nothing when output goes to a file or pipe."""
    total = sum(path.stat().st_size for path in files)
    if not sys.stderr.isatty() or total < 4 << 20:
        yield None
        return
    with click.progressbar(length=total, label="Ingesting", file=sys.stderr) as bar:
        yield bar.update


def _ingest_json(outcomes: list[tuple[Path, store.StoreOutcome]]) -> dict[str, Any]:
    files = [
        {
            "path": str(path),
            "name": path.name,
            "status": o.status,
            "dump_id": o.dump_id,
            "format": o.format,
            "papers_total": o.papers_total,
            "papers_new": o.papers_new,
            "papers_updated": o.papers_updated,
            "papers_unchanged": o.papers_unchanged,
            "warnings": list(o.warnings),
            "error": o.error,
        }
        for path, o in outcomes
    ]
    totals = {
        status: sum(1 for _, o in outcomes if o.status == status)
        for status in ("ingested", "duplicate", "rejected")
    }
    totals["papers_new"] = sum(o.papers_new for _, o in outcomes)
    totals["papers_updated"] = sum(o.papers_updated for _, o in outcomes)
    return {"files": files, "totals": totals}


def _print_ingest(outcomes: list[tuple[Path, store.StoreOutcome]]) -> None:
    for path, o in outcomes:
        if o.status == "ingested":
            click.echo(
                f"{path.name}: ingested {o.papers_total} papers "
                f"({o.papers_new} new, {o.papers_updated} updated, {o.papers_unchanged} unchanged)"
                + (f", {len(o.warnings)} warnings" if o.warnings else "")
            )
            for warning in o.warnings:
                click.echo(f"  warning: {warning}")
        elif o.status == "duplicate":
            click.echo(f"{path.name}: duplicate of a dump already ingested; nothing changed")
        else:
            click.echo(f"{path.name}: rejected: {o.error}")
    totals = _ingest_json(outcomes)["totals"]
    click.echo(
        f"{len(outcomes)} files: {totals['ingested']} ingested, {totals['duplicate']} duplicates, "
        f"{totals['rejected']} rejected; {totals['papers_new']} new papers, "
        f"{totals['papers_updated']} updated"
    )


@cli.group()
def papers() -> None:
    """Look at stored papers."""


@papers.command("list")
@config_option
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the papers as a JSON list.")
@click.pass_context
def papers_list(ctx: click.Context, limit: int, offset: int, as_json: bool) -> None:
    """List stored papers, newest first."""
    with _engine(_settings(ctx)) as engine:
        rows = store.list_papers(engine, limit=limit, offset=offset)
        total = store.count_papers(engine)
    if as_json:
        _echo_json([paper.to_json() for paper in rows])
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for paper in rows:
        published = paper.published.isoformat() if paper.published else "----------"
        upvotes = "" if paper.upvotes is None else str(paper.upvotes)
        line = f"{paper.id:>6}  {published}  {upvotes:>4}  {paper.title}"
        click.echo(line[: max(width, 40)])
    click.echo(f"{len(rows)} of {total} papers", err=True)


@papers.command("show")
@config_option
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the paper as JSON.")
@click.pass_context
def papers_show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one paper, by id or by title."""
    with _engine(_settings(ctx)) as engine:
        paper = store.get_paper(engine, int(ref) if ref.isdigit() else ref)
    if paper is None:
        raise UsageError(f"no paper with id or title {ref!r}; 'feedd papers list' shows the ids")
    data = paper.to_json()
    if as_json:
        _echo_json(data)
        return
    click.echo(click.style(paper.title, bold=True))
    for key, value in data.items():
        if key in ("title", "abstract"):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        click.echo(f"  {key + ':':<15}{'' if shown is None else shown}")
    click.echo()
    click.echo(paper.abstract)


@cli.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@config_option
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (safe to run while feedd runs, and concurrently)."""
    settings = _settings(ctx)
    engine = store.make_engine(settings.storage.database_url)
    try:
        before = store.current_revision(engine)
        store.upgrade(engine)
        after = store.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}")


@cli.command("check-config")
@config_option
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the settings and print the effective values, secrets masked."""
    settings = _settings(ctx)
    path = config_path(_config(ctx))
    click.echo(f"# effective settings (from {path or 'built-in defaults'} and the environment)")
    click.echo(tomli_w.dumps(_without_none(masked(settings))), nl=False)
    click.echo("# settings are valid", err=True)


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null; leave unset keys out."""
    return {
        key: _without_none(value) if isinstance(value, dict) else value
        for key, value in data.items()
        if value is not None
    }


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="feedd", standalone_mode=False)
    except FeeddError as exc:
        click.echo(f"feedd: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("feedd: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("feedd: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
