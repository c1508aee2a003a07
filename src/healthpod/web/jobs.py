"""Imports started from the web: saved as a job (`healthpod.jobs`), followed on a page.

An upload is saved to the pod's home first (`uploads/<job>/`, with the job's record), so the
request returns at once; the job is then queued (`jobs.queue`): run in a thread of this
server on SQLite, or by `healthpod worker` processes on PostgreSQL. Either way the import
page polls the record, and every finished or failed import is in the `imports` table, which
the import page lists.
"""

from __future__ import annotations

import re
from dataclasses import replace

from healthpod.jobs.queue import queue_of
from healthpod.jobs.state import ImportJob
from healthpod.web.i18n import N_

__all__ = ["for_page", "queue_of", "safe_filename", "web_hint"]


def for_page(job: ImportJob) -> ImportJob:
    """The job with each importer's hint as the upload form puts it."""
    return replace(job, files=[replace(f, hint=web_hint(f.hint)) for f in job.files])


def web_hint(hint: str | None) -> str | None:
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


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: the last path part, odd characters replaced."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    cleaned = re.sub(r"[^\w.\- ()]+", "_", base)[:200]
    return cleaned or "upload"
