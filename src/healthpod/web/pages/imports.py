"""Import: upload one or more files, follow the background import, see the history."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from healthpod.errors import NotFound
from healthpod.jobs import state
from healthpod.jobs.state import FileJob
from healthpod.store import import_history
from healthpod.store.person_data import PersonData
from healthpod.web import security, upload_form
from healthpod.web.auth import PersonDep
from healthpod.web.i18n import N_
from healthpod.web.jobs import for_page, queue_of, safe_filename
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)

CHUNK = 1024 * 1024
HISTORY = 50


def _person_name(data: PersonData) -> str:
    with data.reader() as read:
        identity = read.identity()
    if identity is None or identity.name is None:
        raise NotFound(N_("Your person record is missing."))
    return identity.name


def _history(data: PersonData) -> list[dict[str, object]]:
    with data.reader() as read:
        rows = import_history.recent(read, HISTORY)
    return [{**row, "total": sum((row["added"] or {}).values())} for row in rows]


@router.get("/import")
def import_page(request: Request, person: PersonDep) -> Response:
    return render(
        request,
        "import.html",
        {
            "history": _history(person.data),
            "file_error": None,
            "errors": {},
            "choice": None,
            "csv_profiles": upload_form.profiles(),
        },
    )


@router.post("/import", dependencies=[Depends(security.verify_csrf)])
async def upload(request: Request, person: PersonDep) -> Response:
    # Read the form ourselves: a browser sends an empty part when no file was chosen, which a
    # typed UploadFile parameter would turn into a validation error instead of a field message.
    form = await request.form()
    _ = gettext_for(request)
    chosen = [
        part for part in form.getlist("files") if isinstance(part, UploadFile) and part.filename
    ]
    choice = upload_form.read_choice(form)
    errors = dict(choice.errors)
    if not chosen:
        errors["files"] = N_("Choose at least one file to import.")
    elif errors:
        errors["files"] = N_(
            "Choose the files again: a browser forgets them when a form is sent back."
        )
    if errors:
        return render(
            request,
            "import.html",
            {
                "history": _history(person.data),
                "errors": {field: _(message) for field, message in errors.items()},
                "file_error": _(errors["files"]),
                "choice": choice,
                "csv_profiles": upload_form.profiles(),
            },
            status_code=400,
        )
    home = request.app.state.pod.settings.home
    job, folder = state.new_job(home, person.person_id)
    job.format, job.profile = choice.format, choice.profile if choice.importer else ""
    if job.profile == upload_form.OWN:
        profile_file = form.get("profile_file")
        assert isinstance(profile_file, UploadFile)
        await profile_file.seek(0)
        (folder / state.PROFILE_FILE).write_bytes(
            await profile_file.read(upload_form.MAX_PROFILE_BYTES)
        )
    for number, upload_file in enumerate(chosen):
        name = safe_filename(upload_file.filename or "")
        target = folder / f"{number:03d}-{name}"
        with target.open("wb") as out:
            while chunk := await upload_file.read(CHUNK):
                out.write(chunk)
        # Keep the name the person knows; the numbered prefix only keeps uploads apart.
        final = folder / f"{number:03d}" / name
        final.parent.mkdir()
        target.rename(final)
        job.files.append(
            FileJob(name=name, path=f"{number:03d}/{name}", bytes_total=final.stat().st_size)
        )
    state.save(home, job)
    await run_in_threadpool(queue_of(request.app.state).enqueue, job)
    return RedirectResponse(f"/import/jobs/{job.id}", status_code=303)


@router.get("/import/jobs/{job_id}")
def job_page(request: Request, job_id: str, person: PersonDep) -> Response:
    job = state.load_for(request.app.state.pod.settings.home, job_id, person.person_id)
    if job is None:
        raise NotFound(
            N_("This import is not running any more."),
            hint=N_("Its result is in the list of imports."),
        )
    template = "import_job_status.html" if request.headers.get("hx-request") else "import_job.html"
    return render(request, template, {"job": for_page(job)})
