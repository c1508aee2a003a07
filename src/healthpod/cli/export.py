"""`healthpod export OUT.zip`: everything of one person as one zip (see docs/export-format.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from healthpod.cli import CliState, echo_json, json_option
from healthpod.errors import InvalidRequest
from healthpod.pod import DEFAULT_PERSON

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from healthpod.export import ExportProgress


@contextmanager
def _progress_bar() -> Iterator[ExportProgress]:
    """A Rich bar per file over lines written, on stderr; silent when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    bar: Progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(f"Writing {name}", total=total)
        bar.update(tasks[name], completed=done, total=total)

    with bar:
        yield on_progress


@click.command(name="export")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--person", default=DEFAULT_PERSON, show_default=True, help="Whose data.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@json_option
@click.pass_obj
def export(state: CliState, out: Path, person: str, force: bool, as_json: bool) -> None:
    """Write everything of one person in your pod to OUT.zip.

    The zip holds FHIR R4 NDJSON (what another service reads) and CSV of every table
    (what FHIR cannot carry: sources and their order, devices, correlations, workouts with
    routes, activity summaries, the import history), with a manifest of counts and sha256
    sums. `healthpod import OUT.zip` into another pod (SQLite or PostgreSQL) brings it all
    back; importing it twice adds nothing. See docs/export-format.md.

    \b
        healthpod export ~/healthpod-export.zip
        healthpod --database-url postgresql://… import ~/healthpod-export.zip
    """
    from healthpod.cli.consent import find_person
    from healthpod.export import write_export
    from healthpod.store.person_data import for_owner

    if out.exists() and not force:
        raise InvalidRequest(
            f"{out} exists already.", hint="Choose another name, or pass --force to replace it."
        )
    if out.suffix.lower() != ".zip":
        raise InvalidRequest(f"{out}: the export is a zip archive; name it ….zip.")
    pod = state.pod()
    with pod.engine.connect() as conn:
        found = find_person(conn, person)
    # An empty pod has no person yet: its export is empty (but complete and importable), and
    # the pod stays as it was (no id is ever 0).
    person_id = found if found is not None else 0
    partial = out.with_name(out.name + ".partial")
    try:
        with _progress_bar() as on_progress:
            counts = write_export(
                for_owner(pod.engine, pod.reads, person_id), partial, on_progress=on_progress
            )
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    if as_json:
        echo_json({"path": str(out), "person": person, "files": counts})
        return
    rows = sum(n for name, n in counts.items() if name.startswith("csv/"))
    click.echo(f"Wrote {out}: {len(counts)} files, {rows:,} table rows.")


COMMANDS = [export]
