"""`healthpod demo`: a pod with a year of sample data, then the web app to look at it."""

from __future__ import annotations

import time

import click
import uvicorn

from healthpod import demo as demo_pod
from healthpod.app import create_app
from healthpod.cli import CliState


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--no-serve", is_flag=True, help="Only set up the demo pod; do not start the server.")
@click.pass_obj
def demo(state: CliState, host: str, port: int, no_serve: bool) -> None:
    """Create a demo pod with a year of sample data and open the web app on it.

    A second run reuses the pod. The data lives in the home directory (--home or
    HEALTHPOD_HOME); the login is printed at the end.

    \b
        healthpod --home ./demo-pod demo
    """
    pod = state.pod(check=False)
    started = time.monotonic()
    report = demo_pod.set_up(pod, say=lambda message: click.echo(f"  {message}"))
    if report.created:
        click.echo(f"Demo pod ready in {pod.settings.home} ({time.monotonic() - started:.1f} s).")
    else:
        click.echo(f"Reusing the demo pod in {pod.settings.home}.")
    url = f"http://{host}:{port}/"
    click.echo(f"\n  Open {url}\n  Log in as {report.username} / {report.password}\n")
    if no_serve:
        return
    uvicorn.run(create_app(pod.settings, pod=pod), host=host, port=port, log_level="warning")


COMMANDS = [demo]
