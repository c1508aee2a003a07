"""`healthpod worker`: run import jobs from the PostgreSQL queue (procrastinate).

Each worker process registers itself and sends a heartbeat every `stalled_after / 3`
seconds. A worker killed with SIGKILL mid-job stops sending it: its import's transaction was
rolled back with its connection, and after `stalled_after` seconds without a heartbeat any
other worker (or the next one to start) puts the job back on the queue, where it runs again
from its record (`jobs.runner`). A job that stopped its worker MAX_ATTEMPTS times is failed
instead, with a message on the person's import page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from healthpod.errors import HealthpodError
from healthpod.jobs import deliveries, runner, state
from healthpod.jobs.queue import DELIVER_TASK, QUEUES, TASK, conninfo

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.jobs import Job

    from healthpod.pod import Pod

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
STOPPED_TOO_OFTEN = (
    "The import stopped {count} times before it finished (the worker running it ended), "
    "so it was given up; nothing of the unfinished file was stored."
)
STOPPED_HINT = "Try again later; if it happens again, the file may be too large for this server."


def make_app(pod: Pod) -> procrastinate.App:
    """A procrastinate app over the pod's database, with the import task registered."""
    from procrastinate import App, PsycopgConnector

    connector = PsycopgConnector(conninfo=conninfo(pod), kwargs={"prepare_threshold": None})
    app = App(connector=connector)

    @app.task(name=TASK)
    def import_upload(job_id: str) -> None:
        try:
            runner.run_job(pod, job_id)
        except runner.JobBusy:  # a stalled job handed back while its old worker still runs
            logger.warning("import job still runs elsewhere job=%s", job_id[:8])
        except HealthpodError as exc:
            logger.warning("import job not run job=%s: %s", job_id[:8], exc.message)

    @app.task(name=DELIVER_TASK)
    def deliver(delivery_id: str) -> None:
        try:
            deliveries.run_delivery(pod, delivery_id)
        except runner.JobBusy:
            logger.warning("delivery job still runs elsewhere job=%s", delivery_id[:8])
        except HealthpodError as exc:
            logger.warning("delivery job not run job=%s: %s", delivery_id[:8], exc.message)

    del import_upload, deliver  # registered under their names; nothing calls them here
    return app


async def recover_stalled(app: procrastinate.App, pod: Pod, *, stalled_after: float) -> int:
    """Put back on the queue the jobs of workers silent for `stalled_after` seconds (or fail
    the ones that stopped a worker MAX_ATTEMPTS times). Returns how many it handled."""
    from procrastinate.jobs import Status

    jobs: Iterable[Job] = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=stalled_after
    )
    count = 0
    for job in jobs:
        count += 1
        if job.attempts + 1 >= MAX_ATTEMPTS:
            _give_up(pod, job.task_kwargs, job.attempts + 1)
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            logger.error("import job given up job_id=%s attempts=%d", job.id, job.attempts + 1)
        else:
            await app.job_manager.retry_job(job)
            logger.warning("stalled import job back on the queue job_id=%s", job.id)
    return count


def _give_up(pod: Pod, kwargs: Mapping[str, object], count: int) -> None:
    home = pod.settings.home
    delivery = deliveries.load(home, str(kwargs.get("delivery_id", "")))
    if delivery is not None:
        delivery.status, delivery.error_status = "failed", 503
        delivery.error, delivery.hint = STOPPED_TOO_OFTEN.format(count=count), STOPPED_HINT
        deliveries.save(home, delivery)
        return
    job = state.load(home, str(kwargs.get("job_id", "")))
    if job is None:
        return
    for file in job.files:
        if file.status in ("waiting", "running"):
            file.status = "failed"
            file.error = STOPPED_TOO_OFTEN.format(count=count)
            file.hint = STOPPED_HINT
    job.finished = True
    state.save(pod.settings.home, job)


async def _recovery_loop(app: procrastinate.App, pod: Pod, *, stalled_after: float) -> None:
    while True:
        try:
            await recover_stalled(app, pod, stalled_after=stalled_after)
        except Exception as exc:  # the database away for a moment: try again next round
            logger.warning("stalled-job check failed: %s", exc)
        await asyncio.sleep(max(0.5, stalled_after / 2))


async def run(
    pod: Pod,
    *,
    concurrency: int = 1,
    queues: Iterable[str] | None = None,
    stalled_after: float = 60.0,
    name: str = "healthpod-worker",
) -> None:
    """Serve the import queues until SIGINT or SIGTERM (a running job is finished first)."""
    app = make_app(pod)
    names = [QUEUES[q] for q in queues] if queues else list(QUEUES.values())
    async with app.open_async():
        recovery = asyncio.create_task(_recovery_loop(app, pod, stalled_after=stalled_after))
        try:
            await app.run_worker_async(
                queues=names,
                concurrency=concurrency,
                name=name,
                update_heartbeat_interval=max(0.2, stalled_after / 3),
                stalled_worker_timeout=stalled_after,
                fetch_job_polling_interval=1.0,
            )
        finally:
            recovery.cancel()
