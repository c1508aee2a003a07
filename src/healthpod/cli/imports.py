"""`healthpod import FILE...` and `healthpod imports` (the history)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from healthpod.cli import CliState, echo_json, json_option
from healthpod.cli.settings import ZONE
from healthpod.errors import HealthpodError
from healthpod.ingest import head_start, reader_process
from healthpod.pod import DEFAULT_PERSON

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rich.progress import Progress, TaskID
    from rich.table import Table

    from healthpod.ingest.run import ImportReport
    from healthpod.ingest.run import Progress as ProgressFn
    from healthpod.pod import Pod

# This module is imported before `import` runs; what the command needs (the settings, the
# importers, SQLAlchemy, Rich) is imported inside it, after it has started the reader process.


class FormatChoice(click.Choice):  # type: ignore[type-arg]
    """`--format`: the registry's formats, looked up only when used (it imports every importer)."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from healthpod.ingest import registry

        return registry.FORMATS

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        pass  # set by click.Choice.__init__; the registry decides


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
    """A Rich bar per file over bytes read, on stderr; silent when stderr is not a terminal.

    Rich is loaded at the first progress report, once the reader process has its file.
    """
    bar: Progress | None = None
    tasks: dict[str, TaskID] = {}

    def on_progress(name: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _start_bar()
        if name not in tasks:
            tasks[name] = bar.add_task(f"Importing {name}", total=total)
        bar.update(tasks[name], completed=done, total=total)

    try:
        yield on_progress
    finally:
        if bar is not None:
            bar.stop()


def _start_bar() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    bar.start()
    return bar


def summary_table(report: ImportReport) -> Table:
    """Per type: how many were new, how many were already stored, and whether we know the type."""
    from rich.table import Table

    table = Table(title=f"{report.filename} ({report.format})", title_justify="left")
    table.add_column("type")
    table.add_column("new", justify="right")
    table.add_column("already present", justify="right")
    table.add_column("note")
    unknown = set(report.unknown_types)
    for code in sorted({*report.added, *report.present_by_type}):
        table.add_row(
            code,
            f"{report.added.get(code, 0):,}",
            f"{report.present_by_type.get(code, 0):,}",
            "unknown type, kept as written" if code in unknown else "",
        )
    table.add_row(
        "[bold]total",
        f"[bold]{report.total_added:,}",
        f"[bold]{report.already_present:,}",
        "",
    )
    return table


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--person", default=DEFAULT_PERSON, show_default=True, help="Whose data this is.")
@click.option(
    "--format",
    "format_",
    type=FormatChoice(),
    help="Skip format detection and read the files as this format.",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read CSV files with this mapping profile (TOML; see docs/import-devices.md).",
)
@click.option(
    "--tz",
    "zone",
    type=ZONE,
    metavar="ZONE",
    help="The time zone (e.g. Europe/Stockholm) of sources that write times without one "
    "(Fitbit, Google Fit); default: `healthpod settings` timezone, else +00:00.",
)
@json_option
@click.pass_obj
def import_(
    state: CliState,
    files: tuple[Path, ...],
    person: str,
    format_: str | None,
    profile: Path | None,
    zone: ZoneInfo | None,
    as_json: bool,
) -> None:
    """Import health data exports into your pod.

    FILE may be an export (Apple Health export.zip or export.xml, and the other formats
    healthpod reads), a folder, or a zip of several files; each file is one import, all or
    nothing. Importing the same data again adds nothing. In a folder or a zip, files in no
    format healthpod reads (a note, a photo) are skipped, named on one line. A progress bar
    per file shows on a terminal.

    \b
        healthpod import ~/Downloads/export.zip
        healthpod import --person anna export.xml --json
        healthpod import weight.csv --profile my-scale.toml
        healthpod import fitbit-export.zip --tz Europe/Stockholm
    """
    # First, before the settings, the store and the importers load: a reader process that
    # starts now overlaps its start-up with theirs (and may already read the export).
    head_start.start_reader(files, format=format_, profile=profile is not None)
    try:
        _import(state.pod(), files, person, format_, profile, zone, as_json)
    finally:
        reader_process.discard_spare()


def _import(
    pod: Pod,
    files: tuple[Path, ...],
    person: str,
    format_: str | None,
    profile: Path | None,
    zone: ZoneInfo | None,
    as_json: bool,
) -> None:
    from healthpod.ingest.run import ImportReport, import_path

    reports: list[ImportReport] = []
    failed = False
    importer = None
    if profile is not None:
        from healthpod.ingest.csv.profiles import ProfileImporter, load_profile

        importer = ProfileImporter(load_profile(profile))
    with progress_bar() as on_progress:
        for path in files:
            try:
                reports.extend(
                    import_path(
                        pod,
                        path,
                        person=person,
                        format=format_,
                        on_progress=on_progress,
                        importer=importer,
                        zone=zone,
                    )
                )
            except HealthpodError as exc:
                if len(files) == 1:
                    raise
                failed = True
                _echo_error(exc.message, exc.hint)
                reports.append(
                    ImportReport(
                        None, path.name, "unknown", "failed", error=exc.message, hint=exc.hint
                    )
                )
    for report in reports:
        if report.status == "failed":
            failed = True
            if len(files) > 1 or len(reports) > 1:
                _echo_error(report.error or "failed", report.hint)
        for warning in report.warnings[:20]:
            click.echo(
                f"Warning: {report.filename}, {warning.location}: {warning.message}", err=True
            )
        if len(report.warnings) > 20:
            click.echo(f"… and {len(report.warnings) - 20} more warnings", err=True)
    skipped = [r for r in reports if r.status == "skipped"]
    if skipped and len(skipped) == len(reports):
        failed = True
        _echo_error(
            f"Nothing imported: none of the {len(skipped)} files is in a format healthpod reads "
            f"({_some(skipped)}).",
            skipped[0].hint,
        )
    elif skipped:
        # One line for the lot: a stray note or photo in a folder is not worth an error each.
        click.echo(
            f"Skipped {len(skipped)} file{'s' if len(skipped) > 1 else ''} in no format healthpod "
            f"reads: {_some(skipped)}. (`healthpod import -h` lists the formats.)",
            err=True,
        )
    if as_json:
        documents = [r.to_json() for r in reports]
        echo_json(documents[0] if len(documents) == 1 else {"imports": documents})
    else:
        from rich.console import Console

        out = Console()
        if not out.is_terminal:  # piped: room for the longest HealthKit identifiers
            out = Console(width=160)
        for report in reports:
            if report.status == "completed":
                out.print(summary_table(report))
    if failed:
        raise click.exceptions.Exit(1)


def _some(reports: list[ImportReport], shown: int = 5) -> str:
    names = ", ".join(r.filename for r in reports[:shown])
    return names + (f" and {len(reports) - shown} more" if len(reports) > shown else "")


def _echo_error(message: str, hint: str | None) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    if hint:
        click.echo(hint, err=True)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


@click.command()
@click.option("--person", default=None, help="Only this person's imports.")
@json_option
@click.pass_obj
def imports(state: CliState, person: str | None, as_json: bool) -> None:
    """Show the history of imports, newest first.

    \b
        healthpod imports
        healthpod imports --json
    """
    from rich.console import Console
    from rich.table import Table

    from healthpod.store.imports.history import history as import_history

    pod = state.pod()
    history: list[dict[str, Any]] = [
        {
            "import_id": row.import_id,
            "person": row.person,
            "filename": row.filename,
            "format": row.format,
            "status": row.status,
            "added": row.added,
            "already_present": row.already_present,
            "unknown_types": row.unknown_types,
            "started": _iso(row.started_ms),
            "finished": _iso(row.finished_ms),
            "sha256": row.sha256,
            "error": row.error,
        }
        for row in import_history(pod.engine, person=person)
    ]
    if as_json:
        echo_json({"imports": history})
        return
    if not history:
        click.echo("No imports yet. Import a file with `healthpod import FILE`.")
        return
    table = Table()
    for column in ("id", "started", "file", "format", "status", "new", "present", "note"):
        table.add_column(column, justify="right" if column in ("id", "new", "present") else "left")
    for item in history:
        table.add_row(
            str(item["import_id"]),
            (item["started"] or "")[:19].replace("T", " "),
            item["filename"],
            item["format"],
            item["status"],
            f"{sum(item['added'].values()):,}",
            f"{item['already_present']:,}",
            item["error"] or "",
        )
    Console().print(table)


COMMANDS = [import_, imports]
