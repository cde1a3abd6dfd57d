"""The ``feedd`` command: verbs, and the one place that turns a FeeddError into a message.

Exit codes: 0 done; 1 something the user asked for failed (a rejected dump); 2 bad usage or
settings; 3 the database is unavailable; 130 interrupted.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
import tomli_w

from feedd import __version__, pipeline, store
from feedd.errors import FeeddError, UsageError
from feedd.match import MatchResult, Percolator, Query, QueryError, analyze, compile_query
from feedd.match.analysis import fold, words
from feedd.notify import channels
from feedd.publish import ALL_FEED, FeedInfo, export_feeds, render_opml
from feedd.publish.database import DatabaseFeedSource, feed_settings_for
from feedd.settings import Settings, config_path, load_settings, masked, masked_url

F = TypeVar("F", bound=Callable[..., Any])
_WORD = re.compile(r"[^\W_]+")  # close enough to feedd.match.analysis for highlighting


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
        store.checkpoint(engine)
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
    outcomes: list[tuple[Path, pipeline.Ingested]] = []
    with _engine(settings) as engine:
        matcher = pipeline.prepare_subscriptions(engine, settings.subscriptions)
        with _progress(files) as advance:
            for path in files:
                ingested = pipeline.ingest_file(
                    engine, path, subscriptions=matcher, progress=advance
                )
                outcomes.append((path, ingested))
    if as_json:
        _echo_json(_ingest_json(outcomes))
    else:
        _print_ingest(outcomes)
    if any(ingested.outcome.status == "rejected" for _, ingested in outcomes):
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


def _ingest_json(results: list[tuple[Path, pipeline.Ingested]]) -> dict[str, Any]:
    outcomes = [(path, ingested.outcome) for path, ingested in results]
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
            "matches": len(ingested.matches),
        }
        for (path, o), (_, ingested) in zip(outcomes, results, strict=True)
    ]
    totals = {
        status: sum(1 for _, o in outcomes if o.status == status)
        for status in ("ingested", "duplicate", "rejected")
    }
    totals["papers_new"] = sum(o.papers_new for _, o in outcomes)
    totals["papers_updated"] = sum(o.papers_updated for _, o in outcomes)
    totals["matches"] = sum(len(ingested.matches) for _, ingested in results)
    return {"files": files, "totals": totals}


def _print_ingest(results: list[tuple[Path, pipeline.Ingested]]) -> None:
    for path, ingested in results:
        o = ingested.outcome
        if o.status == "ingested":
            click.echo(
                f"{path.name}: ingested {o.papers_total} papers "
                f"({o.papers_new} new, {o.papers_updated} updated, {o.papers_unchanged} unchanged)"
                + (f", {len(ingested.matches)} new matches" if ingested.matches else "")
                + (f", {len(o.warnings)} warnings" if o.warnings else "")
            )
            for warning in o.warnings:
                click.echo(f"  warning: {warning}")
        elif o.status == "duplicate":
            click.echo(f"{path.name}: duplicate of a dump already ingested; nothing changed")
        else:
            click.echo(f"{path.name}: rejected: {o.error}")
    totals = _ingest_json(results)["totals"]
    click.echo(
        f"{len(results)} files: {totals['ingested']} ingested, {totals['duplicate']} duplicates, "
        f"{totals['rejected']} rejected; {totals['papers_new']} new papers, "
        f"{totals['papers_updated']} updated, {totals['matches']} new matches"
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
def subs() -> None:
    """Subscriptions: list them, and try queries against the stored papers."""


@subs.command("list")
@config_option
@click.option("--all", "include_removed", is_flag=True, help="Include removed subscriptions.")
@click.option("--json", "as_json", is_flag=True, help="Print the subscriptions as JSON.")
@click.pass_context
def subs_list(ctx: click.Context, include_removed: bool, as_json: bool) -> None:
    """List the subscriptions with their query, schedule and matches so far."""
    settings = _settings(ctx)
    with _engine(settings) as engine:
        pipeline.prepare_subscriptions(engine, settings.subscriptions)
        rows = store.list_subscriptions(engine, include_removed=include_removed)
    if as_json:
        _echo_json([_subscription_json(row) for row in rows])
        return
    if not rows:
        click.echo("no subscriptions; add [[subscriptions]] to the settings file", err=True)
    for row in rows:
        removed = "  (removed)" if row.removed_at else ""
        click.echo(f"{row.name}{removed}  [{row.schedule}]  {row.matches} matches")
        click.echo(f"    {row.query}")


def _subscription_json(row: store.StoredSubscription) -> dict[str, Any]:
    return {
        "name": row.name,
        "title": row.title,
        "query": row.query,
        "schedule": row.schedule,
        "timezone": row.timezone,
        "channels": row.channels,
        "matches": row.matches,
        "last_match_at": row.last_match_at.isoformat() if row.last_match_at else None,
        "created_at": row.created_at.isoformat(),
        "removed_at": row.removed_at.isoformat() if row.removed_at else None,
    }


def _compile(text: str) -> Query:
    try:
        return compile_query(text)
    except QueryError as exc:
        click.echo(exc.caret(), err=True)
        raise click.exceptions.Exit(2) from None


@subs.command("test")
@config_option
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the matching papers as JSON.")
@click.pass_context
def subs_test(ctx: click.Context, query: str, limit: int, as_json: bool) -> None:
    """Show the stored papers QUERY matches, newest first, with the words that matched."""
    compiled = _compile(query)
    found: list[tuple[store.StoredPaper, MatchResult]] = []
    scanned = 0
    with _engine(_settings(ctx)) as engine:
        for paper in _newest_papers(engine):
            scanned += 1
            result = compiled.explain(analyze(paper))
            if result is not None:
                found.append((paper, result))
    if as_json:
        _echo_json([{**p.to_json(), "matched": r.terms} for p, r in found[:limit]])
        return
    for paper, result in found[:limit]:
        _print_match(paper, result)
    click.echo(f"{len(found)} of {scanned} papers match", err=True)


def _newest_papers(engine: sa.Engine, page: int = 500) -> Iterator[store.StoredPaper]:
    offset = 0
    while rows := store.list_papers(engine, limit=page, offset=offset):
        yield from rows
        offset += page


def _print_match(paper: store.StoredPaper, result: MatchResult) -> None:
    published = paper.published.isoformat() if paper.published else "----------"
    upvotes = "" if paper.upvotes is None else f"{paper.upvotes:>3} up"
    click.echo(f"{published}  {upvotes:>6}  {_highlight(paper.title, result.words)}")
    if result.words:
        click.echo(f"    matched: {', '.join(result.words)}")


def _highlight(text: str, matched: tuple[str, ...]) -> str:
    """Matched words in bold on a terminal (click drops the styling when output is piped)."""
    wanted = {word for phrase in matched for word in words(phrase)}
    return _WORD.sub(
        lambda m: click.style(m[0], bold=True, fg="yellow") if fold(m[0]) in wanted else m[0],
        text,
    )


@subs.command("resume")
@config_option
@click.argument("name")
@click.argument("address")
@click.pass_context
def subs_resume(ctx: click.Context, name: str, address: str) -> None:
    """E-mail ADDRESS again for subscription NAME after it used an unsubscribe link."""
    with _engine(_settings(ctx)) as engine:
        resumed = store.resume_recipient(engine, name, address)
    if not resumed:
        raise UsageError(f"{address} has not unsubscribed from {name!r}; nothing to resume")
    click.echo(f"{address} gets e-mail for {name!r} again, from the next delivery on")


@subs.command("explain")
@click.argument("query")
def subs_explain(query: str) -> None:
    """Show how QUERY is parsed and which terms the percolator files it under."""
    compiled = _compile(query)
    click.echo(compiled.describe())
    click.echo(f"normal form: {compiled}")
    click.echo(Percolator({0: compiled}).anchors(compiled))


@cli.group()
def feeds() -> None:
    """The feeds as files."""


@feeds.command("build")
@config_option
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write to (default: [feeds] output_dir).",
)
@click.pass_context
def feeds_build(ctx: click.Context, output: Path | None) -> None:
    """Write every feed (RSS, Atom, JSON, HTML) and opml.xml, atomically, for a web server."""
    settings = _settings(ctx)
    folder = output or settings.feeds.output_dir
    if folder is None:
        raise UsageError("no folder: pass --output DIR or set [feeds] output_dir")
    with _engine(settings) as engine:
        pipeline.prepare_subscriptions(engine, settings.subscriptions)
        source = DatabaseFeedSource(engine, settings.subscriptions)
        written = export_feeds(source, feed_settings_for(settings), folder)
    click.echo(f"wrote {len(written)} files to {folder}")


@cli.command()
@config_option
@click.pass_context
def opml(ctx: click.Context) -> None:
    """Print an OPML file listing every feed, for importing into a feed reader."""
    settings = _settings(ctx)
    feed_list = [FeedInfo(s.name, s.display_title, s.query) for s in settings.subscriptions]
    sys.stdout.buffer.write(render_opml([ALL_FEED, *feed_list], feed_settings_for(settings)))


@cli.group()
def deliveries() -> None:
    """The outbox: webhook calls and e-mails, sent, pending and dead."""


@deliveries.command("list")
@config_option
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "dead"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the deliveries as JSON.")
@click.pass_context
def deliveries_list(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """List deliveries, newest first."""
    with _engine(_settings(ctx)) as engine:
        rows = store.list_deliveries(engine, status=status, limit=limit)
    if as_json:
        _echo_json([row.to_json() for row in rows])
        return
    for row in rows:
        error = f"  {row.last_error}" if row.last_error and row.status != "sent" else ""
        click.echo(
            f"{row.delivery_id}  {row.status:<7}  {row.subscription_name}  {row.channel}  "
            f"{len(row.paper_ids)} papers  {row.attempts} attempts{error}"
        )


@deliveries.command("retry")
@config_option
@click.argument("ref")
@click.pass_context
def deliveries_retry(ctx: click.Context, ref: str) -> None:
    """Send delivery REF (its id or delivery id) again, with a fresh set of attempts."""
    with _engine(_settings(ctx)) as engine:
        row = store.retry_delivery(engine, ref, now=datetime.now(UTC))
    if row is None:
        raise UsageError(f"no delivery {ref!r}; 'feedd deliveries list' shows them")
    click.echo(f"{row.delivery_id} is due again; a running feedd sends it within seconds")


@deliveries.command("test")
@config_option
@click.argument("channel")
@click.pass_context
def deliveries_test(ctx: click.Context, channel: str) -> None:
    """Send a sample delivery to CHANNEL now, to check a webhook, SMTP or Apprise setup.

    CHANNEL is webhook:NAME (or a webhook's name), email:ADDRESS (or an address), or an Apprise
    URL. The sample carries the newest stored paper (a built-in one when there is none); it is
    not written to the outbox and not retried.
    """
    settings = _settings(ctx)
    try:
        resolved = channels.resolve_test_channel(settings, channel)
    except ValueError as exc:
        raise UsageError(f"deliveries test {channel!r}: {exc}") from None
    shown = "apprise:" + masked_url(channel) if resolved.startswith("apprise-url:") else resolved
    with _engine(settings) as engine:
        outcome = channels.send_test(engine, settings, feed_settings_for(settings), resolved)
    if not outcome.ok:
        kind = "permanent" if outcome.permanent else "transient (would be retried)"
        click.echo(f"feedd: {shown}: sending failed, {kind}: {outcome.error}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{shown}: the sample delivery was accepted")


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
