"""Bulk Data `Group/{study}/$export`: a study's pseudonymised records, for its sponsor.

    GET    /fhir/Group/{study}/$export               kick-off → 202, Content-Location: status
    GET    /fhir/$group-export-status/{job}          → 202 (X-Progress) while it runs, then
                                                       200 with the manifest
    GET    /fhir/$group-export-file/{job}/{name}     → NDJSON, one Observation per line
    DELETE /fhir/$group-export-status/{job}          → 202: the files are gone

Every call carries the sponsor's backend access token (SMART Backend Services, a scope of
`oauth.backend.RESEARCH_SCOPES`: `system/Observation.rs`, or `system/*.rs` as for answers).
What may leave and who is read is `research.records`: each participant through the one
door, logged in their own log. The files are made once, after the kick-off's answer, in the
pod's home (`research-exports/`, mode 0700), downloadable by the same client until deleted or
a day old; a study that closes or ends meanwhile stops the downloads. A job lives in the
pod's home like a delivery's, so a region's API workers share that directory.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from healthpod.consent.actors import Actor
from healthpod.errors import AccessDenied, Conflict, HealthpodError, InvalidRequest, NotFound
from healthpod.fhir import render
from healthpod.fhir.access import now_ms, pod_of
from healthpod.fhir.outcome import FhirResponse, FhirRoute, Unauthorized, encode
from healthpod.keys import research_key
from healthpod.oauth import backend
from healthpod.pod import Pod
from healthpod.research import records, studies
from healthpod.store.observations import DailyRow
from healthpod.store.studies import StudyRow

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["fhir"])
NDJSON = "application/fhir+ndjson"
JOB_SECONDS = 24 * 3600
FOLDER = "research-exports"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _sponsor(request: Request, pod: Pod) -> Actor:
    """The backend client calling, with a token that may read a study's records.

    Raises:
        Unauthorized: no token, an unknown or expired one, a disabled client.
        AccessDenied: a token without a read scope (a delivery token).
    """
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized(
            "A study's export needs the sponsor's backend access token.",
            hint="Get one with client_credentials and a signed JWT at /oauth/token, "
            "scope system/Observation.rs.",
        )
    try:
        with pod.engine.connect() as conn:
            token, actor = backend.find_token(conn, presented.strip(), now_ms=now_ms(pod))
    except LookupError:
        raise Unauthorized(
            "The access token is unknown or expired, or its client is disabled.",
            hint="Get a new one at /oauth/token.",
        ) from None
    if not set(token.scope.split()) & backend.RESEARCH_SCOPES:
        raise AccessDenied(
            "The token's scope does not allow reading a study's records.",
            hint="Ask /oauth/token for scope system/Observation.rs.",
        )
    return actor


def _study(pod: Pod, study_id: str) -> StudyRow:
    if not study_id.isdigit() or len(study_id) > 9:
        raise NotFound(f"There is no study {study_id[:40]!r}.")
    with pod.reads.connect() as conn:
        return studies.get(conn, int(study_id))


def _asked_types(request: Request) -> list[str] | None:
    for name in request.query_params:
        if name not in ("_type", "_outputFormat"):
            raise InvalidRequest(
                f"Group/$export does not support {name[:40]!r}.",
                hint="Use _type or _outputFormat.",
            )
    output_format = request.query_params.get("_outputFormat", NDJSON)
    if output_format not in (NDJSON, "application/ndjson", "ndjson"):
        raise InvalidRequest(
            f"_outputFormat {output_format[:60]!r} is not supported.",
            hint="Use application/fhir+ndjson.",
        )
    wanted = request.query_params.get("_type")
    if wanted is None:
        return None
    return [t.strip()[:60] for t in wanted.split(",") if t.strip()]


@router.get("/Group/{study_id}/$export")
def kick_off(request: Request, study_id: str) -> Response:
    """Start exporting the study's pseudonymised records (202 and a status URL)."""
    pod = pod_of(request)
    actor = _sponsor(request, pod)
    study = _study(pod, study_id)
    now = now_ms(pod)
    try:
        types = records.check(study, actor.id, _asked_types(request), now_ms=now)
    except HealthpodError as refused:
        records.refuse(pod.engine, study, actor.id, refused, now_ms=now)
        raise
    folder = _jobs(pod)
    _sweep(folder)
    job = secrets.token_urlsafe(24)
    where = folder / job
    where.mkdir(mode=0o700)
    state = {
        "study": study.id,
        "actor": actor.id,
        "types": types,
        "at": int(time.time()),
        "request": str(request.url)[:500],
        "state": "running",
    }
    _save(where, state)
    base = pod.settings.public_base_url + "/fhir"
    return Response(
        status_code=202,
        headers={"Content-Location": f"{base}/$group-export-status/{job}"},
        background=BackgroundTask(_run, pod, study, job, where),
    )


def _run(pod: Pod, study: StudyRow, job: str, where: Path) -> None:
    """Make the files: every participant through the door, one NDJSON line per record."""
    state = _load(where)
    progress = records.Progress()
    started = time.monotonic()
    try:
        with (where / "Observation.ndjson").open("wb") as out:

            def write(alias: str, row: records.Row, record_id: str) -> None:
                out.write(ndjson_line(alias, row, record_id))

            records.export(
                pod.engine,
                pod.reads,
                study,
                key=research_key(pod.settings),
                job=job[:8],
                write=write,
                now_ms=now_ms(pod),
                progress=progress,
            )
    except Exception as exc:
        logger.exception("group export failed study=%d job=%s", study.id, job[:8])
        (where / "Observation.ndjson").unlink(missing_ok=True)
        state.update(state="failed", error=type(exc).__name__)
        _save(where, state)
        return
    logger.info(
        "group export done study=%d persons=%d records=%d seconds=%.2f",
        study.id,
        progress.persons,
        progress.records,
        time.monotonic() - started,
    )
    state.update(state="done", persons=progress.persons, records=progress.records)
    _save(where, state)


def ndjson_line(alias: str, row: records.Row, record_id: str) -> bytes:
    """One pseudonymised record as a line of the export's NDJSON file."""
    if isinstance(row, DailyRow):
        resource = render.daily_observation(row, alias)
    else:
        resource = render.sample_observation(row, alias)
        resource.pop("device", None)  # a device's name may name its owner
    resource["id"] = record_id
    resource["meta"]["security"] = [PSEUDONYMIZED]
    return encode(resource) + b"\n"


PSEUDONYMIZED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PSEUDED",
    "display": "pseudonymized",
}


def _job(request: Request, job: str) -> tuple[Pod, Path, dict[str, Any]]:
    """The caller's own job (another client's, an unknown or expired one: not found)."""
    pod = pod_of(request)
    actor = _sponsor(request, pod)
    gone = NotFound("No such export, or it has expired.", hint="Start a new one.")
    if not _JOB_ID.match(job):
        raise gone
    where = _jobs(pod) / job
    try:
        state = _load(where)
    except (OSError, ValueError):
        raise gone from None
    if state.get("actor") != actor.id or time.time() - state["at"] > JOB_SECONDS:
        raise gone
    return pod, where, state


@router.get("/$group-export-status/{job}")
def status(request: Request, job: str) -> Response:
    """202 while the files are made, then the manifest (or the failure)."""
    pod, _where, state = _job(request, job)
    if state["state"] == "running":
        return Response(status_code=202, headers={"X-Progress": "reading participants"})
    if state["state"] == "failed":
        raise HealthpodError(f"The export failed ({state.get('error', 'unknown')}).")
    base = pod.settings.public_base_url + "/fhir"
    output = []
    if state.get("records"):
        output = [
            {
                "type": "Observation",
                "url": f"{base}/$group-export-file/{job}/Observation.ndjson",
                "count": state["records"],
            }
        ]
    return FhirResponse(
        {
            "transactionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state["at"])),
            "request": state["request"],
            "requiresAccessToken": True,
            "output": output,
            "error": [],
        }
    )


@router.delete("/$group-export-status/{job}")
def delete(request: Request, job: str) -> Response:
    """Delete the export's files (202); the job is gone from then on."""
    _pod, where, _state = _job(request, job)
    shutil.rmtree(where, ignore_errors=True)
    return Response(status_code=202)


@router.get("/$group-export-file/{job}/{name}")
def download(request: Request, job: str, name: str) -> Response:
    """One file of a finished export, while its study is still open."""
    pod, where, state = _job(request, job)
    if state["state"] != "done" or name != "Observation.ndjson" or not state.get("records"):
        raise NotFound(f"This export has no file {name[:60]!r}.")
    study = _study(pod, str(state["study"]))
    current = studies.state_at(study, now_ms(pod))
    if current != "open":
        raise Conflict(f"Study {study.id} is {current}: its files are no longer sent.")
    return FileResponse(where / name, media_type=NDJSON)


def _jobs(pod: Pod) -> Path:
    folder = pod.settings.home / FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _sweep(folder: Path) -> None:
    """Remove exports older than a day."""
    for where in folder.iterdir():
        try:
            if time.time() - _load(where)["at"] > JOB_SECONDS:
                shutil.rmtree(where, ignore_errors=True)
        except (OSError, ValueError, KeyError):
            continue


def _save(where: Path, state: dict[str, Any]) -> None:
    temporary = where / "job.json.tmp"
    temporary.write_text(json.dumps(state))
    temporary.replace(where / "job.json")


def _load(where: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((where / "job.json").read_text())
    return found
