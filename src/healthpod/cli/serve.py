"""`healthpod serve`: the web UI, the JSON API, SMART on FHIR and the FHIR API over HTTP."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import click
from pydantic import AnyHttpUrl

from healthpod.cli import CliState
from healthpod.config import ENV_PREFIX
from healthpod.pod import Pod

# The exit code when the server cannot listen where asked (docs/errors.md); uvicorn's own
# code for a failed start-up, which it still gives if another program takes the port between
# our check and its bind.
CANNOT_LISTEN = 3


def check_address(host: str, port: int) -> None:
    """Exit with one message and a hint when the server could not listen on host:port.

    Binds a socket as uvicorn will (an IPv6 address when the host has a colon, SO_REUSEADDR)
    and closes it again, before anything is printed or loaded.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        other = 8000 if port != 8000 else 8001
        if exc.errno == errno.EADDRINUSE:
            message = f"Port {port} on {host} is already in use by another program."
            hint = (
                f"Stop that program (perhaps another healthpod), or choose a free port: "
                f"--port {other}."
            )
        elif exc.errno == errno.EACCES:
            message = f"Port {port} needs administrator rights on this machine."
            hint = f"Choose a port above 1023: --port {other}."
        else:
            message = f"Cannot listen on {host} port {port}: {exc.strerror or exc}."
            hint = "Give --host an address of this machine, such as 127.0.0.1 or 0.0.0.0."
        click.secho(f"Error: {message}", fg="red", err=True)
        click.echo(hint, err=True)
        raise click.exceptions.Exit(CANNOT_LISTEN) from exc


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (each a full server; they share nothing but the database).",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 64),
    help="Request threads per worker (default: HEALTHPOD_SERVER_THREADS, 4). For throughput "
    "use two workers per core and --threads 1.",
)
@click.pass_obj
def serve(state: CliState, host: str, port: int, workers: int, threads: int | None) -> None:
    """Run the server (uvicorn) until Ctrl-C.

    Links in API responses are built on HEALTHPOD_BASE_URL; when it is not set they use
    http://HOST:PORT, so set it when the server sits behind a proxy or TLS.

    \b
        healthpod serve
        healthpod serve --host 0.0.0.0 --port 8080 --workers 4 --threads 1

    Exits 3 when the port is in use or the address is not this machine's.
    """
    check_address(host, port)
    import uvicorn

    from healthpod.app import create_app

    settings = state.settings
    if f"{ENV_PREFIX}BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a display name
        settings = settings.model_copy(update={"base_url": AnyHttpUrl(f"http://{shown}:{port}")})
    if threads is not None:
        settings = settings.model_copy(update={"server_threads": threads})
    click.echo(f"healthpod serving {settings.public_base_url} (FHIR at /fhir). Ctrl-C stops.")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "proxy_headers": False,
        "server_header": False,
    }
    if workers > 1:
        # Each worker process builds its app from the environment, so hand the settings on.
        os.environ[f"{ENV_PREFIX}HOME"] = str(settings.home)
        os.environ[f"{ENV_PREFIX}DATABASE_URL"] = settings.effective_database_url
        os.environ[f"{ENV_PREFIX}BASE_URL"] = settings.public_base_url
        os.environ[f"{ENV_PREFIX}SERVER_THREADS"] = str(settings.server_threads)
        Pod.open(settings).close()  # refuse a missing or outdated schema before forking
        uvicorn.run("healthpod.app:app_from_environment", factory=True, workers=workers, **options)
        return
    pod = Pod.open(settings)
    uvicorn.run(create_app(settings, pod=pod), **options)
    pod.close()


COMMANDS = [serve]
