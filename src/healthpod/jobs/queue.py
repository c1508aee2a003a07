"""Hand an import job to whoever runs it: one interface, two ways.

- `InProcessQueue` (SQLite, the laptop mode, and `HEALTHPOD_JOBS=in-process`): a thread of
  the server runs the job. At start-up the server resumes the jobs a restart interrupted.
- `PostgresQueue` (PostgreSQL unless told otherwise): the job goes on procrastinate's queue
  in the database; `healthpod worker` processes run it (`jobs.worker`). The job outlives
  the server; a worker killed mid-job leaves it to another (see `jobs.worker`).

Fairness on the queue: a job holds its person's lock (`person:<id>`), so one person's jobs
run one at a time and a person with a 2 GB import holds at most one worker slot; jobs under
SMALL_BYTES go to their own queue at a higher priority, so a worker serving both queues
takes them first, and a worker started with `--queue small` serves only them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from healthpod.errors import ConfigError
from healthpod.jobs import deliveries, runner, state
from healthpod.jobs.deliveries import DeliveryJob
from healthpod.jobs.state import ImportJob

if TYPE_CHECKING:
    import procrastinate

from healthpod.pod import Pod

logger = logging.getLogger(__name__)

TASK = "healthpod.import_upload"
DELIVER_TASK = "healthpod.deliver"
SMALL_BYTES = 64 * 1024 * 1024
QUEUES = {"small": "imports-small", "large": "imports-large"}
PRIORITY = {"small": 10, "large": 0}


class JobQueue(Protocol):
    """Where the server puts a saved job."""

    def enqueue(self, job: ImportJob) -> None: ...

    def enqueue_delivery(self, job: DeliveryJob) -> None: ...

    def resume(self) -> None:
        """Start what a restart interrupted (a no-op where jobs outlive the server)."""

    def close(self) -> None: ...


def size_class(job: ImportJob | DeliveryJob) -> str:
    return "small" if job.size < SMALL_BYTES else "large"


class InProcessQueue:
    """Jobs run in threads of this process, one thread per job."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod

    def enqueue(self, job: ImportJob) -> None:
        thread = threading.Thread(target=self._run, args=(job.id,), name=f"import-{job.id[:8]}")
        thread.daemon = True
        thread.start()

    def enqueue_delivery(self, job: DeliveryJob) -> None:
        thread = threading.Thread(
            target=self._run, args=(job.id, deliveries.run_delivery), name=f"deliver-{job.id[:8]}"
        )
        thread.daemon = True
        thread.start()

    def resume(self) -> None:
        for job in state.unfinished(self.pod.settings.home):
            logger.info("resuming import job job=%s", job.id[:8])
            self.enqueue(job)
        for delivery in deliveries.unfinished(self.pod.settings.home):
            logger.info("resuming delivery job job=%s", delivery.id[:8])
            self.enqueue_delivery(delivery)

    def _run(self, job_id: str, run: Callable[[Pod, str], object] = runner.run_job) -> None:
        try:
            run(self.pod, job_id)
        except runner.JobBusy:
            logger.info("import job runs in another process job=%s", job_id[:8])
        except Exception as exc:  # the thread's last word: logged, never lost silently
            logger.error("import job stopped job=%s", job_id[:8], exc_info=exc)

    def close(self) -> None:
        pass


class PostgresQueue:
    """Jobs go on the queue in PostgreSQL, for `healthpod worker` processes."""

    def __init__(self, pod: Pod) -> None:
        from procrastinate import App, SyncPsycopgConnector

        self.pod = pod
        connector = SyncPsycopgConnector(
            conninfo=conninfo(pod), min_size=0, max_size=2, kwargs={"prepare_threshold": None}
        )
        self.app: procrastinate.App = App(connector=connector).open()

    def enqueue(self, job: ImportJob) -> None:
        kind = size_class(job)
        self.app.configure_task(
            TASK,
            lock=f"person:{job.person_id}",
            queue=QUEUES[kind],
            priority=PRIORITY[kind],
        ).defer(job_id=job.id)
        logger.info("import job queued job=%s queue=%s", job.id[:8], QUEUES[kind])

    def enqueue_delivery(self, job: DeliveryJob) -> None:
        kind = size_class(job)
        self.app.configure_task(
            DELIVER_TASK,
            lock=f"actor:{job.actor_id}",
            queue=QUEUES[kind],
            priority=PRIORITY[kind],
        ).defer(delivery_id=job.id)
        logger.info("delivery job queued job=%s queue=%s", job.id[:8], QUEUES[kind])

    def resume(self) -> None:
        pass

    def close(self) -> None:
        self.app.close()


def conninfo(pod: Pod) -> str:
    """The libpq URL of the pod's PostgreSQL database (without SQLAlchemy's driver name)."""
    url = pod.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def uses_workers(pod: Pod, choice: str) -> bool:
    """Whether jobs go to `healthpod worker` processes (else the server runs them)."""
    if choice == "auto":
        return pod.engine.dialect.name == "postgresql"
    return choice == "workers"


def open_queue(pod: Pod, choice: str = "auto") -> JobQueue:
    """The queue that `choice` (HEALTHPOD_JOBS) and the pod's database call for.

    Raises:
        ConfigError: HEALTHPOD_JOBS=workers on SQLite (the queue lives in PostgreSQL).
    """
    if choice == "workers" and pod.engine.dialect.name != "postgresql":
        raise ConfigError(
            "HEALTHPOD_JOBS=workers needs a PostgreSQL database; this pod is on SQLite.",
            hint="Unset HEALTHPOD_JOBS (the server then runs imports itself), "
            "or set HEALTHPOD_DATABASE_URL to a PostgreSQL database.",
        )
    queue: Any = PostgresQueue(pod) if uses_workers(pod, choice) else InProcessQueue(pod)
    return queue  # type: ignore[no-any-return]


def queue_of(app_state: Any) -> JobQueue:
    """The app's job queue (made by `web.routes.register`)."""
    found: JobQueue = app_state.import_queue
    return found
