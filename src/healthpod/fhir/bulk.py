"""Bulk Data `$export`: the person's own full export, or an actor's, within its consent.

    GET /fhir/$export  or  /fhir/Patient/$export      kick-off → 202, Content-Location: status
    GET /fhir/$export-status/{job}                    → 200 with the manifest
    GET /fhir/$export-file/{job}/{type}.ndjson        → NDJSON, one resource per line

A job is not stored: its id is a signed description (who, which types, `_since`, when), so any
worker can answer for it. Every file download is decided by consent again and logged, so a
consent revoked after the kick-off stops the files too, and what a file holds is exactly what
a search would return at that moment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from healthpod.consent import access as consent_access
from healthpod.consent import audit
from healthpod.consent.model import AccessRequest, Action
from healthpod.errors import InvalidRequest, NotFound
from healthpod.fhir import observation_search, resource_search, search
from healthpod.fhir.access import Access, check, pod_of, returned
from healthpod.fhir.outcome import FhirResponse, FhirRoute
from healthpod.fhir.render import Rendered
from healthpod.insights import summaries
from healthpod.keys import secret_key
from healthpod.oauth.bearer import Caller, authenticate
from healthpod.vocabulary import RESOURCE_CATEGORIES

router = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["fhir"])
NDJSON = "application/fhir+ndjson"
JOB_SECONDS = 24 * 3600
PAGE = 1000
EXPORTABLE = ("Patient", "Observation", *sorted(RESOURCE_CATEGORIES))
_SALT = "healthpod.bulk-export.v1"


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(pod_of(request).settings.home), salt=_SALT)


def _base(request: Request) -> str:
    return pod_of(request).settings.public_base_url + "/fhir"


def _types(request: Request, access_types: list[str]) -> list[str]:
    wanted = request.query_params.get("_type")
    if wanted is None:
        return access_types
    asked = [t.strip() for t in wanted.split(",") if t.strip()]
    unknown = [t for t in asked if t not in EXPORTABLE]
    if unknown:
        raise InvalidRequest(
            f"_type: we do not export {', '.join(unknown)}.",
            hint="Export any of: " + ", ".join(EXPORTABLE) + ".",
        )
    return [t for t in asked if t in access_types]


@router.get("/$export")
@router.get("/Patient/$export")
def kick_off(request: Request) -> Response:
    """Start an export of everything the caller may read (202 and a status URL)."""
    for name in request.query_params:
        if name not in ("_type", "_since", "_outputFormat"):
            raise InvalidRequest(
                f"$export does not support {name!r}.", hint="Use _type, _since or _outputFormat."
            )
    output_format = request.query_params.get("_outputFormat", NDJSON)
    if output_format not in (NDJSON, "application/ndjson", "ndjson"):
        raise InvalidRequest(
            f"_outputFormat {output_format!r} is not supported.",
            hint="Use application/fhir+ndjson.",
        )
    since = request.query_params.get("_since")
    if since is not None:
        search.parse_date(since, name="_since")
    pod = pod_of(request)
    caller = authenticate(request, pod.engine, now_ms=int(pod.now().timestamp() * 1000))
    readable = [t for t in EXPORTABLE if caller.scopes is None or caller.scopes.allows(t, "r")]
    types = _types(request, readable)
    _logged(request, caller, "fhir.export_start", {"path": "$export", "types": types})
    job = _signer(request).dumps(
        {
            "p": caller.person_id,
            "a": caller.actor_id,
            "c": caller.consent_id,
            "t": types,
            "s": since,
            "at": int(time.time()),
            "url": str(request.url)[:500],
        }
    )
    return Response(
        status_code=202, headers={"Content-Location": f"{_base(request)}/$export-status/{job}"}
    )


def _job(request: Request, job: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = _signer(request).loads(job, max_age=JOB_SECONDS)
    except BadSignature:
        raise NotFound(
            "No such export, or it has expired.", hint="Start a new one with $export."
        ) from None
    pod = pod_of(request)
    caller = authenticate(request, pod.engine, now_ms=int(pod.now().timestamp() * 1000))
    if (caller.person_id, caller.actor_id) != (found["p"], found["a"]):
        raise NotFound("No such export, or it has expired.")
    return found


def _logged(request: Request, caller: Caller, event: str, details: dict[str, Any]) -> None:
    """Decide and log a kick-off by an actor: any active consent will do (the status poll and
    each file are decided on their own); the person's own export is not logged.

    Raises:
        AccessDenied: no consent of the actor's is active now (logged as denied).
    """
    if caller.is_person:
        return
    assert caller.actor_id is not None
    pod = pod_of(request)
    consent_access.authorize(
        pod.engine,
        AccessRequest(caller.person_id, caller.actor_id, Action.READ, consent_id=caller.consent_id),
        event=event,
        details=details,
        now_ms=int(pod.now().timestamp() * 1000),
    ).raise_if_denied()


@router.get("/$export-status/{job}")
def status(request: Request, job: str) -> FhirResponse:
    """The manifest: one NDJSON file per resource type that has something to export now.

    A type with nothing in it (or nothing the consent lets out) has no file, and an export
    with nothing at all has `"output": []`, as the Bulk Data spec asks.
    """
    found = _job(request, job)
    base = _base(request)
    types = found["t"]
    if types:
        access = _status_access(request)
        types = [t for t in types if _has_lines(request, access, t, found["s"])]
    return FhirResponse(
        {
            "transactionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(found["at"])),
            "request": found["url"],
            "requiresAccessToken": True,
            "output": [{"type": t, "url": f"{base}/$export-file/{job}/{t}.ndjson"} for t in types],
            "error": [],
        }
    )


def _status_access(request: Request) -> Access:
    """One decision (and log entry) for the manifest: what the consent lets out now, over
    every category the token reads. Each file is decided again when it is downloaded.

    Raises:
        AccessDenied: no consent covers the export any more (logged).
    """
    return check(
        request,
        action=Action.READ,
        resource_type=None,
        event="fhir.export_status",
        details={"path": "$export-status"},
    )


def _has_lines(request: Request, access: Access, resource_type: str, since: str | None) -> bool:
    """Whether the type's file would hold at least one line, read as the download reads."""
    if resource_type == "Patient":
        return True  # the person themselves: always one line
    params = [("_count", "1")]
    if since is not None:
        params.append(("_lastUpdated", f"ge{since}"))
    query = search.parse(resource_type, params, strict=True, allowed=search.RESOURCE_PARAMS)
    if resource_type == "Observation":
        if access.data.scope.daily_only:
            with access.data.writer() as write:
                summaries.catch_up(write)
        with access.data.reader() as read:
            page, _cursor, _total = observation_search.search(read, query)
        return bool(page)
    with access.data.reader() as read:
        found, _total = resource_search.search(read, query, offset=0, limit=1)
    return bool(found)


@router.get("/$export-file/{job}/{name}")
def download(request: Request, job: str, name: str) -> StreamingResponse:
    """One type's resources as NDJSON, decided by consent (and logged) again now."""
    found = _job(request, job)
    resource_type = name.removesuffix(".ndjson")
    if resource_type not in found["t"]:
        raise NotFound(f"This export has no {resource_type[:100]} file.")
    access = check(
        request,
        action=Action.READ,
        resource_type=resource_type,
        event="fhir.export",
        details={"type": resource_type},
        log_first=True,  # streamed: the decision is in the log before the first line
    )
    sent = audit.Returned()

    def logged_lines() -> Iterator[bytes]:
        try:
            yield from _lines(request, access, resource_type, found["s"], sent)
        finally:  # also when the client goes away: the log says what was sent
            returned(request, access, sent)

    return StreamingResponse(logged_lines(), media_type=NDJSON)


def _lines(
    request: Request, access: Access, resource_type: str, since: str | None, sent: audit.Returned
) -> Iterator[bytes]:
    if resource_type == "Patient":
        from healthpod.fhir.routes import load_patient

        yield _line(load_patient(access), sent)
        return
    params = [("_count", str(PAGE))]
    if since is not None:
        params.append(("_lastUpdated", f"ge{since}"))
    query = search.parse(resource_type, params, strict=True, allowed=search.RESOURCE_PARAMS)
    if resource_type == "Observation":
        while True:
            with access.data.reader() as read:
                samples, cursor, _ = observation_search.search(read, query)
            for sample in samples:
                yield _line(sample, sent)
            if cursor is None:
                return
            query = search.parse(
                resource_type,
                [*params, ("_cursor", cursor.text())],
                strict=True,
                allowed=search.RESOURCE_PARAMS,
            )
    offset = 0
    while True:
        with access.data.reader() as read:
            page, _total = resource_search.search(read, query, offset=offset, limit=PAGE)
        for resource in page:
            yield _line(resource, sent)
        if len(page) < PAGE:
            return
        offset += PAGE


def _line(resource: dict[str, Any] | Rendered, sent: audit.Returned) -> bytes:
    if isinstance(resource, Rendered):
        sent.add(f"{resource.resource_type}/{resource.id}")
        return resource.json + b"\n"
    sent.add(f"{resource['resourceType']}/{resource['id']}")
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
