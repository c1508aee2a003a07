"""Imports started from the web run in a background thread; the page polls their progress.

An upload is saved to the pod's home first (`uploads/<job>/`), so the request returns at once;
a thread then imports each file with the ordinary importer (`ingest.run.import_path`, one
transaction per file: all or nothing), records progress here, and deletes the upload. Jobs live
in the server process: a restart forgets running jobs, but every finished or failed import is
in the `imports` table, which the import page lists.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthpod.errors import HealthpodError
from healthpod.ingest.base import Importer
from healthpod.ingest.run import import_path
from healthpod.pod import Pod
from healthpod.web.i18n import N_

logger = logging.getLogger(__name__)

MAX_JOBS_KEPT = 50


@dataclass
class FileJob:
    """One uploaded file and what its import did."""

    name: str
    path: Path
    status: str = "waiting"  # waiting|running|completed|failed
    bytes_done: int = 0
    bytes_total: int = 0
    added: int = 0
    already_present: int = 0
    formats: list[str] = field(default_factory=list)
    added_by_type: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    error: str | None = None
    hint: str | None = None

    @property
    def fraction(self) -> float:
        if self.status in ("completed", "failed"):
            return 1.0
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0


@dataclass
class ImportJob:
    id: str
    person_id: int
    person_name: str
    files: list[FileJob]
    finished: bool = False
    format: str | None = None  # the format the person chose, else detected per file
    importer: Importer | None = None  # a CSV profile the person chose or uploaded

    @property
    def fraction(self) -> float:
        return sum(f.fraction for f in self.files) / len(self.files) if self.files else 1.0


class Jobs:
    """The import jobs of this server process."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def upload_dir(self) -> Path:
        return self.pod.settings.home / "uploads"

    def new_job(self, person_id: int, person_name: str) -> tuple[ImportJob, Path]:
        job_id = uuid.uuid4().hex
        folder = self.upload_dir() / job_id
        folder.mkdir(parents=True)
        job = ImportJob(job_id, person_id, person_name, [])
        with self._lock:
            self._jobs[job_id] = job
            if len(self._jobs) > MAX_JOBS_KEPT:
                for old in [j for j in self._jobs.values() if j.finished][: -MAX_JOBS_KEPT // 2]:
                    del self._jobs[old.id]
        return job, folder

    def get(self, job_id: str, person_id: int) -> ImportJob | None:
        """The job, if it exists and belongs to this person."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.person_id == person_id else None

    def start(self, job: ImportJob) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=f"import-{job.id[:8]}")
        thread.daemon = True
        thread.start()

    def _run(self, job: ImportJob) -> None:
        for file in job.files:
            file.status = "running"
            file.bytes_total = file.path.stat().st_size

            def progress(_name: str, done: int, _total: int, file: FileJob = file) -> None:
                file.bytes_done = min(done, file.bytes_total)

            try:
                reports = import_path(
                    self.pod,
                    file.path,
                    person=job.person_name,
                    on_progress=progress,
                    format=job.format,
                    importer=job.importer,
                )
                file.formats = sorted({r.format for r in reports})
                for report in reports:
                    for code, count in report.added.items():
                        file.added_by_type[code] = file.added_by_type.get(code, 0) + count
                    file.already_present += report.already_present
                    file.warnings += len(report.warnings)
                failed = [r for r in reports if r.status == "failed"]
                file.added = sum(file.added_by_type.values())
                if failed:
                    file.status, file.error = "failed", failed[0].error
                    file.hint = _web_hint(failed[0].hint)
                else:
                    file.status = "completed"
            except HealthpodError as exc:
                file.status, file.error, file.hint = "failed", exc.message, _web_hint(exc.hint)
            except Exception as exc:  # a bug must not leave the job "running" forever
                incident = uuid.uuid4().hex[:8]
                logger.error("import job failed incident=%s", incident, exc_info=exc)
                file.status = "failed"
                file.error = f"Something went wrong on our side (incident {incident})."
            finally:
                file.path.unlink(missing_ok=True)
        shutil.rmtree(self.upload_dir() / job.id, ignore_errors=True)
        job.finished = True
        logger.info("import job finished job=%s files=%d", job.id[:8], len(job.files))


def _web_hint(hint: str | None) -> str | None:
    """An importer's hint as the upload form puts it: the form's fields, not the command line."""
    if hint and "--format" in hint:
        return N_(
            "If the file is one of the kinds this page lists, choose its kind under “Format” "
            "and import it again."
        )
    if hint and "--profile" in hint:
        return N_(
            "Choose a CSV profile under “CSV profile”, or upload your own profile file, "
            "and import it again."
        )
    return hint


def jobs_of(state: Any) -> Jobs:
    """The app's job registry (made by `routes.register`)."""
    found: Jobs = state.import_jobs
    return found


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: the last path part, odd characters replaced."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    cleaned = re.sub(r"[^\w.\- ()]+", "_", base)[:200]
    return cleaned or "upload"
