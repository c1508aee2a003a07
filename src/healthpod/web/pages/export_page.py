""" "Download everything": start the export job, follow its progress, download the zip once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask

from healthpod.pod import now_ms
from healthpod.web import security
from healthpod.web.auth import PersonDep
from healthpod.web.export_jobs import ExportJob, export_jobs_of
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)


@router.post("/data/export", dependencies=[Depends(security.verify_csrf)])
def start_export(request: Request, person: PersonDep) -> Response:
    job = export_jobs_of(request.app.state).start(person.data, person.username)
    return RedirectResponse(f"/data/export/{job.id}", status_code=303)


def _job_or_page(request: Request, job_id: str, person_id: int) -> ExportJob | Response:
    job = export_jobs_of(request.app.state).get(job_id, person_id)
    if job is not None:
        return job
    _ = gettext_for(request)
    return render(
        request,
        "error.html",
        {
            "title": _("This download is not here any more"),
            "message": _(
                "An export is kept until it is downloaded once, for an hour at most, "
                "and not after the server restarts."
            ),
            "hint": _("Start a new one with “Download everything” under Your data."),
            "back": "/data",
        },
        status_code=404,
    )


@router.get("/data/export/{job_id}")
def export_status(request: Request, job_id: str, person: PersonDep) -> Response:
    found = _job_or_page(request, job_id, person.person_id)
    if not isinstance(found, ExportJob):
        return found
    template = "export_job_status.html" if request.headers.get("hx-request") else "export_job.html"
    return render(request, template, {"job": found})


@router.get("/data/export/{job_id}/download")
def export_download(request: Request, job_id: str, person: PersonDep) -> Response:
    found = _job_or_page(request, job_id, person.person_id)
    if not isinstance(found, ExportJob):
        return found
    if found.status != "ready":
        return RedirectResponse(f"/data/export/{found.id}", status_code=303)
    jobs = export_jobs_of(request.app.state)
    return FileResponse(
        found.path,
        media_type="application/zip",
        filename=f"healthpod-export-{person.username}-{now_ms() // 1000}.zip",
        background=BackgroundTask(jobs.downloaded, found),
    )
