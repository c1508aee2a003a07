"""`healthpod init` and `healthpod db upgrade|status`."""

from __future__ import annotations

import click

from healthpod.cli import CliState, echo_json, json_option
from healthpod.keys import secret_key
from healthpod.store import migrate


@click.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create the pod (data directory and database) or bring its schema up to date.

    \b
        healthpod init
        healthpod --home ./mypod init
    """
    pod = state.pod(check=False)
    migrate.upgrade(pod.engine)
    secret_key(pod.settings.home)  # signs session cookies; kept if it exists
    click.echo(f"Pod ready in {pod.settings.home} ({pod.engine.url.render_as_string()}).")


@click.group()
def db() -> None:
    """Database schema: status and upgrade."""


@db.command()
@click.pass_obj
def upgrade(state: CliState) -> None:
    """Apply pending schema migrations."""
    pod = state.pod(check=False)
    before = migrate.current_revision(pod.engine)
    migrate.upgrade(pod.engine)
    click.echo(f"Schema upgraded from {before or 'nothing'} to {migrate.head_revision()}.")


@db.command()
@json_option
@click.pass_obj
def status(state: CliState, as_json: bool) -> None:
    """Show the schema revision of the database and of this code."""
    pod = state.pod(check=False)
    current, head = migrate.current_revision(pod.engine), migrate.head_revision()
    if as_json:
        echo_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        click.echo(f"database: {current or 'none'}  code: {head}")


COMMANDS = [init, db]
