"""`healthpod worker`: run web uploads' imports from the job queue in PostgreSQL."""

from __future__ import annotations

import asyncio

import click

from healthpod.cli import CliState
from healthpod.errors import ConfigError, StorageError


@click.command()
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs this process runs at once (one person's jobs always run one at a time).",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(["small", "large"]),
    help="Serve only this queue (repeatable; default: both). Uploads under 64 MB are small.",
)
@click.option(
    "--stalled-after",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds without a heartbeat after which a worker counts as dead and its job runs again.",
)
@click.pass_obj
def worker(
    state: CliState, concurrency: int, queues: tuple[str, ...], stalled_after: float
) -> None:
    """Run import jobs from the queue until Ctrl-C or SIGTERM (PostgreSQL only).

    Web uploads (and deliveries) wait in the queue in PostgreSQL until a worker runs them.
    Start one or more next to `healthpod serve`, sharing its home folder and database.
    A worker stopped with Ctrl-C or SIGTERM finishes its running jobs first.

    \b
        healthpod worker
        healthpod worker --concurrency 2
        healthpod worker --queue small
    """
    from healthpod.jobs import worker as job_worker
    from healthpod.store import queue_schema

    pod = state.pod()
    if pod.engine.dialect.name != "postgresql":
        raise ConfigError(
            "`healthpod worker` needs a PostgreSQL database; on SQLite the server runs "
            "imports itself.",
            hint="Set HEALTHPOD_DATABASE_URL (or --database-url) to a PostgreSQL database.",
        )
    if not queue_schema.present(pod.engine):
        raise StorageError("The database has no job queue yet.", hint="Run `healthpod db upgrade`.")
    served = ", ".join(queues or ("small", "large"))
    click.echo(
        f"healthpod worker: concurrency {concurrency}, queues {served}. "
        "Ctrl-C stops after the running jobs."
    )
    asyncio.run(
        job_worker.run(pod, concurrency=concurrency, queues=queues, stalled_after=stalled_after)
    )


COMMANDS = [worker]
