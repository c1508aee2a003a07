"""`healthpod demo`: a pod with sample data, ready to look at."""

from __future__ import annotations

import click

from healthpod.cli import CliState
from healthpod.store import migrate


@click.command()
@click.pass_obj
def demo(state: CliState) -> None:
    """Create a demo pod with sample data and show what it holds."""
    pod = state.pod(check=False)
    migrate.upgrade(pod.engine)
    click.echo(f"Demo pod ready in {pod.settings.home}.")


COMMANDS = [demo]
