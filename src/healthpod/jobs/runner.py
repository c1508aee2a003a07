"""Run one import job: each of its files with the ordinary importer, one transaction each.

A file's import completes or stores nothing (`ingest.run`). A job can be run again after the
process running it died (a worker killed mid-import, a server restarted): files already
`completed` or `failed` are skipped, the one that was running starts over (its transaction
was rolled back with the connection), and a file whose import committed just before the kill
adds nothing the second time (the store's natural keys). A file is deleted once its import
is over; the job's record stays.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ClassVar

from healthpod.errors import HealthpodError, NotFound
from healthpod.ingest.base import Importer
from healthpod.ingest.csv.profiles import ProfileImporter, load_profile, shipped_profiles
from healthpod.ingest.run import import_path
from healthpod.jobs import state
from healthpod.jobs.state import FileJob, ImportJob
from healthpod.pod import Pod
from healthpod.store import persons

logger = logging.getLogger(__name__)

SAVE_EVERY_S = 0.5  # progress reaches the record at most this often
LOCK_FILE = ".running"

VANISHED = (
    "The uploaded file {name} is no longer on the server, so it was not imported; "
    "nothing of it was stored."
)
VANISHED_HINT = "Upload the file again."


class _Vanished(HealthpodError):
    """The job's file is gone (its page says so in the person's language: code "gone")."""

    code: ClassVar[str] = "gone"
    status: ClassVar[int] = 404


class JobBusy(Exception):
    """Another process is running this job right now."""


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the job's lock file while running it: two server processes that both find an
    unfinished job at start-up run it once; the lock dies with its process."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise JobBusy(folder.name) from exc
        yield
    finally:
        os.close(fd)


def run_job(pod: Pod, job_id: str) -> ImportJob:
    """Import every file of the job not imported yet, recording progress and results.

    Raises:
        NotFound: there is no such job (its folder was removed).
        JobBusy: another process runs it now.
    """
    home = pod.settings.home
    folder = state.folder_of(home, job_id)
    job = state.load(home, job_id)
    if job is None or folder is None:
        raise NotFound(f"There is no import job {job_id[:8]}.")
    with exclusive(folder):
        job = state.load(home, job_id) or job  # as the last runner left it
        if job.finished:
            return job
        job.attempts += 1
        state.save(home, job)
        present = persons.is_present(pod.engine, job.person_id)
        for file in job.files:
            if file.status in ("completed", "failed"):
                continue
            _run_file(pod, job, folder, file, present)
        job.finished = True
        state.save(home, job)
    (folder / LOCK_FILE).unlink(missing_ok=True)
    logger.info(
        "import job finished job=%s files=%d attempts=%d", job.id[:8], len(job.files), job.attempts
    )
    return job


def _run_file(pod: Pod, job: ImportJob, folder: Path, file: FileJob, present: bool) -> None:
    home = pod.settings.home
    path = folder / file.path
    file.status, file.bytes_done = "running", 0
    state.save(home, job)
    last_saved = float("-inf")  # the first bytes read reach the record at once

    def progress(_name: str, done: int, _total: int) -> None:
        nonlocal last_saved
        file.bytes_done = min(done, file.bytes_total)
        if time.monotonic() - last_saved >= SAVE_EVERY_S:
            state.save(home, job)
            last_saved = time.monotonic()

    try:
        if not present:
            raise NotFound("Your person record is missing, so nothing was imported.")
        if not path.is_file():
            logger.warning("import job file vanished job=%s file=%s", job.id[:8], file.path)
            raise _Vanished(VANISHED.format(name=file.name), hint=VANISHED_HINT)
        file.bytes_total = path.stat().st_size
        reports = import_path(
            pod,
            path,
            person_id=job.person_id,
            on_progress=progress,
            format=job.format,
            importer=_importer(folder, job.profile),
        )
        file.formats = sorted({r.format for r in reports})
        file.added_by_type, file.already_present, file.warnings = {}, 0, 0
        for report in reports:
            for code, count in report.added.items():
                file.added_by_type[code] = file.added_by_type.get(code, 0) + count
            file.already_present += report.already_present
            file.warnings += len(report.warnings)
        failed = [r for r in reports if r.status == "failed"]
        file.added = sum(file.added_by_type.values())
        if failed:
            file.status, file.error, file.hint = "failed", failed[0].error, failed[0].hint
        else:
            file.status = "completed"
    except HealthpodError as exc:
        file.status, file.error, file.hint = "failed", exc.message, exc.hint
        file.code = exc.code
    except Exception as exc:  # a bug must not leave the job "running" forever
        incident = uuid.uuid4().hex[:8]
        logger.error("import job failed incident=%s", incident, exc_info=exc)
        file.status, file.code = "failed", "exception"
        file.error = f"Something went wrong on our side (incident {incident})."
    state.save(home, job)
    path.unlink(missing_ok=True)
    if path.parent != folder:
        _remove_empty(path.parent)


def _remove_empty(directory: Path) -> None:
    with suppress(OSError):
        directory.rmdir()


def _importer(folder: Path, profile: str) -> Importer | None:
    """The CSV profile the person chose (shipped) or uploaded with the files, if any.

    Raises:
        MalformedFile: the uploaded profile no longer reads (it was checked at upload).
        NotFound: the shipped profile is gone (healthpod was upgraded in between).
    """
    if not profile:
        return None
    if profile == "own":
        return ProfileImporter(load_profile(folder / state.PROFILE_FILE))
    for shipped in shipped_profiles():
        if shipped.origin.rsplit("/", 1)[-1].removesuffix(".toml") == profile:
            return ProfileImporter(shipped)
    raise NotFound(f"The CSV profile {profile} is not shipped any more.")
