"""A delivery from healthcare as a job: `POST /fhir/$deliver` with `Prefer: respond-async`.

The body is saved to `<home>/deliveries/jobs/<id>/` with a record of the job (`job.json`, as
an upload's), queued like an upload (a server thread on SQLite, `healthpod worker` on
PostgreSQL; one delivering client's jobs one at a time), and run by `identity.delivery.deliver`
on the stored file. The client polls `GET /fhir/$deliver-status/<id>` with its backend token:
202 while it waits or runs, then the OperationOutcome, one issue per patient.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from healthpod.errors import HealthpodError, NotFound
from healthpod.jobs import state
from healthpod.jobs.runner import LOCK_FILE, exclusive
from healthpod.pod import Pod

logger = logging.getLogger(__name__)

BODY = "body"
VANISHED = "The delivered file is no longer on the server, so nothing of it was stored."
VANISHED_HINT = "Send the delivery again."
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class DeliveryJob:
    """One delivery by one backend client, and its answer once it ran."""

    id: str
    actor_id: int
    kind: str  # "ndjson" | "bundle"
    size: int = 0
    status: str = "waiting"  # waiting|running|completed|failed
    outcome: dict[str, Any] | None = None  # the OperationOutcome (completed)
    error: str | None = None  # failed: why, and what to do (hint), with an HTTP status
    hint: str | None = None
    error_status: int = 0
    created_ms: int = 0
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


def jobs_dir(home: Path) -> Path:
    return home / "deliveries" / "jobs"


def folder_of(home: Path, job_id: str) -> Path | None:
    return jobs_dir(home) / job_id if _JOB_ID.match(job_id) else None


def new_delivery(home: Path, actor_id: int, kind: str) -> tuple[DeliveryJob, Path]:
    """A new job and the path its body is to be written to."""
    job = DeliveryJob(uuid.uuid4().hex, actor_id, kind, created_ms=time.time_ns() // 1_000_000)
    folder = jobs_dir(home) / job.id
    folder.mkdir(parents=True, mode=0o700)
    return job, folder / f"{BODY}.{kind}"


def save(home: Path, job: DeliveryJob) -> None:
    state.write_record(jobs_dir(home) / job.id, asdict(job))


def load(home: Path, job_id: str) -> DeliveryJob | None:
    folder = folder_of(home, job_id)
    document = None if folder is None else state.read_record(folder)
    return None if document is None else DeliveryJob(**document)


def load_for(home: Path, job_id: str, actor_id: int) -> DeliveryJob | None:
    """The job, if it exists and this client delivered it."""
    job = load(home, job_id)
    return job if job is not None and job.actor_id == actor_id else None


def unfinished(home: Path) -> list[DeliveryJob]:
    found = []
    if jobs_dir(home).is_dir():
        for folder in jobs_dir(home).iterdir():
            job = load(home, folder.name)
            if job is not None and not job.finished:
                found.append(job)
    return sorted(found, key=lambda j: j.created_ms)


def run_delivery(pod: Pod, job_id: str) -> DeliveryJob:
    """Deliver the stored body; record the OperationOutcome or the refusal; remove the body.

    Raises:
        NotFound: no such job. JobBusy: another process runs it now.
    """
    from healthpod.identity import delivery

    home = pod.settings.home
    folder = folder_of(home, job_id)
    job = load(home, job_id)
    if job is None or folder is None:
        raise NotFound(f"There is no delivery job {job_id[:8]}.")
    with exclusive(folder):
        job = load(home, job_id) or job
        if job.finished:
            return job
        job.status, job.attempts = "running", job.attempts + 1
        save(home, job)
        body = folder / f"{BODY}.{job.kind}"
        try:
            if not body.is_file():
                logger.warning("delivery job file vanished job=%s", job.id[:8])
                raise NotFound(VANISHED, hint=VANISHED_HINT)
            kind = cast("delivery.Kind", job.kind)
            report = delivery.deliver(
                pod, job.actor_id, body, kind=kind, filename=f"delivery.{job.kind}"
            )
            job.status, job.outcome = "completed", report.operation_outcome()
        except HealthpodError as exc:
            job.status, job.error, job.hint = "failed", exc.message, exc.hint
            job.error_status = exc.status
        except Exception as exc:  # a bug must not leave the job "running" forever
            incident = uuid.uuid4().hex[:8]
            logger.error("delivery job failed incident=%s", incident, exc_info=exc)
            job.status, job.error_status = "failed", 500
            job.error = f"Something went wrong on our side (incident {incident})."
        save(home, job)
        body.unlink(missing_ok=True)
    (folder / LOCK_FILE).unlink(missing_ok=True)
    logger.info("delivery job finished job=%s status=%s", job.id[:8], job.status)
    return job
