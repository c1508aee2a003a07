"""`healthpod demo`: a pod with a year of sample data, then the web app to look at it."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from healthpod import demo as demo_pod
from healthpod.cli import CliState
from healthpod.cli.serve import check_address, serve
from healthpod.config import default_demo_dir


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option("--no-serve", is_flag=True, help="Only set up the demo pod; do not start the server.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, no_serve: bool) -> None:
    """Create a demo pod with a year of sample data and open the web app on it.

    The pod gets a generated year of watch, phone, scale and cuff data, the
    bundled real Apple Health exports and a Synthea record from healthcare, a
    login, and two actors with consents. A second run reuses the pod.

    The demo keeps its own pod, apart from yours: in a folder of its own
    (healthpod-demo in your user data folder), or in --home when given; never
    in HEALTHPOD_HOME or the default home. It refuses a pod that holds data
    it did not put there. Every web page of the demo pod says "demo data".

    \b
        healthpod demo
        healthpod demo --port 8080
        healthpod --home ./demo-pod demo --no-serve
    """
    if not no_serve:
        check_address(host, port)  # before a minute of setting up, not after
    state = ctx.find_object(CliState)
    assert state is not None
    home = state.given_home or default_demo_dir()
    state.point_at(home, state.given_database_url or f"sqlite:///{home / 'healthpod.db'}")
    pod = state.pod(check=False)
    started = time.monotonic()
    report = demo_pod.set_up(pod, say=lambda message: click.echo(f"  {message}"))
    if report.created:
        click.echo(f"Demo pod ready in {home} ({time.monotonic() - started:.1f} s).")
    else:
        click.echo(f"Reusing the demo pod in {home}.")
    # As it was started (`.venv/bin/healthpod` under `make demo`), so the line can be copied.
    program = sys.argv[0] if Path(sys.argv[0]).name == "healthpod" else "healthpod"
    click.echo(
        "Commands on the demo pod need its home, e.g.\n"
        f"  {shlex.quote(program)} --home {shlex.quote(str(home))} stats"
    )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a display name
    click.echo(
        f"\n  Open http://{shown}:{port}/\n  Log in as {report.username} / {report.password}\n"
    )
    if no_serve:
        return
    state.close()  # `serve` opens the pod itself
    ctx.invoke(serve, host=host, port=port)


COMMANDS = [demo]
