""" "Download everything" as a background job: a progress bar, then a link when the zip is ready.

A 10-year pod takes many seconds to export, which a request that just waits shows as nothing.
`ExportJobs.start` writes the zip (`healthpod.export.write_export`, through the person's own
door) into `<home>/exports/<job>/` in a thread, counting lines as it goes; the page polls the
job with htmx; the download link serves the file once and then deletes it. Jobs live in the
server process (as import jobs do): a restart forgets them, and their files are removed the
next time an export starts.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthpod.consent import audit
from healthpod.errors import HealthpodError
from healthpod.export import write_export
from healthpod.pod import Pod, now_ms
from healthpod.store.observations import SampleFilter
from healthpod.store.person_data import PersonData

logger = logging.getLogger(__name__)

KEEP_S = 3600  # a ready export not downloaded within an hour is deleted


@dataclass
class ExportJob:
    id: str
    person_id: int
    username: str
    folder: Path
    status: str = "running"  # running|ready|downloaded|failed
    done: int = 0
    expected: int = 0
    size: int = 0
    started_s: float = 0.0
    error: str | None = None

    @property
    def fraction(self) -> float:
        if self.status != "running":
            return 1.0
        return min(0.99, self.done / self.expected) if self.expected else 0.0

    @property
    def path(self) -> Path:
        return self.folder / "healthpod-export.zip"


class ExportJobs:
    """The export jobs of this server process."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod
        self._jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()

    def base(self) -> Path:
        return self.pod.settings.home / "exports"

    def start(self, data: PersonData, username: str) -> ExportJob:
        self._clean()
        job_id = uuid.uuid4().hex
        folder = self.base() / job_id
        folder.mkdir(parents=True, mode=0o700)
        job = ExportJob(job_id, data.person_id, username, folder, started_s=time.monotonic())
        with self._lock:
            self._jobs[job_id] = job
        thread = threading.Thread(target=self._run, args=(job, data), name=f"export-{job_id[:8]}")
        thread.daemon = True
        thread.start()
        return job

    def get(self, job_id: str, person_id: int) -> ExportJob | None:
        """The job, if it exists and belongs to this person."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.person_id == person_id else None

    def downloaded(self, job: ExportJob) -> None:
        job.status = "downloaded"
        shutil.rmtree(job.folder, ignore_errors=True)

    def _run(self, job: ExportJob, data: PersonData) -> None:
        per_file: dict[str, int] = {}

        def progress(name: str, done: int, _total: int | None) -> None:
            per_file[name] = done
            job.done = sum(per_file.values())
            job.expected = max(job.expected, job.done + 1)

        try:
            job.expected = _expected_lines(data)
            counts = write_export(data, job.path, on_progress=progress)
            with data.engine.begin() as conn:
                audit.lock_chain(conn, job.person_id)
                audit.record(
                    conn,
                    job.person_id,
                    None,
                    "export",
                    "ok",
                    {"files": len(counts)},
                    now_ms=now_ms(),
                    reason="you downloaded everything in your pod",
                )
            job.size = job.path.stat().st_size
            job.status = "ready"
        except HealthpodError as exc:
            job.status, job.error = "failed", exc.message
            shutil.rmtree(job.folder, ignore_errors=True)
        except Exception as exc:  # a bug must not leave the job "running" forever
            incident = uuid.uuid4().hex[:8]
            logger.error("export job failed incident=%s", incident, exc_info=exc)
            job.status = "failed"
            job.error = f"incident {incident}"
            shutil.rmtree(job.folder, ignore_errors=True)
        logger.info("export job finished job=%s status=%s", job.id[:8], job.status)

    def _clean(self) -> None:
        """Forget old finished jobs and delete files no running job owns."""
        now = time.monotonic()
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status != "running" and now - job.started_s > KEEP_S:
                    shutil.rmtree(job.folder, ignore_errors=True)
                    del self._jobs[job.id]
            known = set(self._jobs)
        if self.base().exists():
            for folder in self.base().iterdir():
                if folder.name not in known:
                    shutil.rmtree(folder, ignore_errors=True)


def _expected_lines(data: PersonData) -> int:
    """About how many lines the zip will hold: samples and records twice (FHIR and CSV)."""
    with data.reader() as read:
        samples = read.count_samples(SampleFilter())
        records = read.search_resources(None, limit=0).total
    return 2 * (samples + records) + 100


def export_jobs_of(state: Any) -> ExportJobs:
    """The app's export job registry (made by `routes.register`)."""
    found: ExportJobs = state.export_jobs
    return found
