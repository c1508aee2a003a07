"""A job's record: `<home>/uploads/<job id>/job.json`, beside the files it imports.

The server writes it when the upload arrives; whoever runs the job updates it (status and
bytes read, at most a few times a second) by writing a new file and renaming it over the old
one, so a reader never sees half a record and a killed worker leaves the last whole one. The
page that shows the progress reads it; so it works the same whichever process runs the job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "job.json"
PROFILE_FILE = "profile.toml"  # a CSV profile the person uploaded with the files
KEEP_FINISHED_S = 7 * 24 * 3600  # a finished job's record is kept a week (its files are gone)
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class FileJob:
    """One uploaded file and what its import did."""

    name: str
    path: str  # relative to the job's folder
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
    code: str | None = None  # the error's code (`HealthpodError.code`), for the page's words

    @property
    def fraction(self) -> float:
        if self.status in ("completed", "failed"):
            return 1.0
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0


@dataclass
class ImportJob:
    """An upload of one or more files by one person, imported file by file."""

    id: str
    person_id: int
    files: list[FileJob] = field(default_factory=list)
    finished: bool = False
    format: str | None = None  # the format the person chose, else detected per file
    profile: str = ""  # "", a shipped CSV profile's key, or "own" (PROFILE_FILE)
    created_ms: int = 0
    attempts: int = 0  # how many times a runner started it (more than 1: resumed)

    @property
    def fraction(self) -> float:
        return sum(f.fraction for f in self.files) / len(self.files) if self.files else 1.0

    @property
    def size(self) -> int:
        return sum(f.bytes_total for f in self.files)


def uploads(home: Path) -> Path:
    return home / "uploads"


def folder_of(home: Path, job_id: str) -> Path | None:
    """The job's folder, or None when `job_id` is not a job id (never a path outside)."""
    if not _JOB_ID.match(job_id):
        return None
    return uploads(home) / job_id


def new_job(home: Path, person_id: int) -> tuple[ImportJob, Path]:
    """A new, empty job and its folder (0700)."""
    job = ImportJob(uuid.uuid4().hex, person_id, created_ms=time.time_ns() // 1_000_000)
    folder = uploads(home) / job.id
    folder.mkdir(parents=True, mode=0o700)
    return job, folder


def save(home: Path, job: ImportJob) -> None:
    """Write the job's record whole (a new file renamed over the old one)."""
    write_record(uploads(home) / job.id, asdict(job))


def write_record(folder: Path, document: dict[str, Any]) -> None:
    """Write `folder`'s STATE_FILE whole: a new file renamed over the old one."""
    temporary = folder / f".{STATE_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(document), encoding="utf-8")
    temporary.replace(folder / STATE_FILE)


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document


def load(home: Path, job_id: str) -> ImportJob | None:
    """The job's record, or None when there is no such job."""
    folder = folder_of(home, job_id)
    if folder is None:
        return None
    document = read_record(folder)
    if document is None:
        return None
    files = [FileJob(**f) for f in document.pop("files", [])]
    return ImportJob(**document, files=files)


def load_for(home: Path, job_id: str, person_id: int) -> ImportJob | None:
    """The job, if it exists and belongs to this person."""
    job = load(home, job_id)
    return job if job is not None and job.person_id == person_id else None


def unfinished(home: Path) -> list[ImportJob]:
    """Every job not finished yet, oldest first (for a runner that starts up)."""
    found = []
    if uploads(home).is_dir():
        for folder in uploads(home).iterdir():
            job = load(home, folder.name)
            if job is not None and not job.finished:
                found.append(job)
    return sorted(found, key=lambda j: j.created_ms)


def forget_old(home: Path, *, now_s: float | None = None) -> None:
    """Delete the records of jobs that finished more than KEEP_FINISHED_S ago."""
    now_s = time.time() if now_s is None else now_s
    if not uploads(home).is_dir():
        return
    for folder in uploads(home).iterdir():
        job = load(home, folder.name)
        if job is None or not job.finished:
            continue
        try:
            age = now_s - (folder / STATE_FILE).stat().st_mtime
        except OSError:
            continue
        if age > KEEP_FINISHED_S:
            shutil.rmtree(folder, ignore_errors=True)
