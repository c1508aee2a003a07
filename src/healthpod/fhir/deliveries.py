"""Deliveries from healthcare: a backend client posts records for many patients.

    POST /fhir/$deliver     Authorization: Bearer <backend token, system/*.c>
        Content-Type: application/fhir+ndjson   (Bulk NDJSON: one resource per line)
                   or application/fhir+json     (a transaction or collection Bundle)
    → 200 OperationOutcome: one issue per patient, stored or not and why

The body is written to a file in the pod's home, delivered (`identity.delivery.deliver`) and
removed. With `Prefer: respond-async` (the FHIR asynchronous request pattern) the delivery is
a job instead (`jobs.deliveries`, run by the job queue: `healthpod worker` on PostgreSQL):

    → 202 Accepted, Content-Location: <base>/fhir/$deliver-status/<id>
    GET /fhir/$deliver-status/<id>   (the same client's backend token)
    → 202 with X-Progress while it waits or runs; then 200 and the OperationOutcome, or the
      refusal's status and OperationOutcome; another client's or an unknown id: 404
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from healthpod.errors import InvalidRequest, NotFound, UnsupportedFormat
from healthpod.fhir.access import now_ms, pod_of
from healthpod.fhir.outcome import (
    FhirResponse,
    FhirRoute,
    Unauthorized,
    operation_outcome,
    outcome_response,
)
from healthpod.identity import delivery
from healthpod.jobs import deliveries
from healthpod.jobs.queue import queue_of
from healthpod.oauth import backend
from healthpod.pod import Pod

router = APIRouter(prefix="/fhir", route_class=FhirRoute, tags=["fhir"])
NDJSON_TYPES = ("application/fhir+ndjson", "application/x-ndjson", "application/ndjson")
BUNDLE_TYPES = ("application/fhir+json", "application/json")


def _caller(request: Request) -> int:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized(
            "A delivery needs a backend access token.",
            hint="Get one with client_credentials and a signed JWT at /oauth/token.",
        )
    pod = pod_of(request)
    try:
        with pod.engine.connect() as conn:
            token, actor = backend.find_token(conn, presented.strip(), now_ms=now_ms(pod))
    except LookupError:
        raise Unauthorized(
            "The access token is unknown or expired, or its client is disabled.",
            hint="Get a new one at /oauth/token.",
        ) from None
    if not set(token.scope.split()) & backend.DELIVERY_SCOPES:
        raise Unauthorized("The token's scope does not allow deliveries (system/*.c).")
    return actor.id


@router.post("/$deliver")
async def deliver(request: Request) -> FhirResponse:
    """Deliver records for many patients; each lands only where its person allowed it."""
    actor_id = _caller(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in NDJSON_TYPES:
        kind: delivery.Kind = "ndjson"
    elif content_type in BUNDLE_TYPES:
        kind = "bundle"
    else:
        raise UnsupportedFormat(
            f"A delivery is NDJSON or a Bundle, not {content_type or 'an unnamed type'}.",
            hint="Send application/fhir+ndjson or application/fhir+json.",
        )
    pod = pod_of(request)
    if "respond-async" in request.headers.get("prefer", "").lower():
        return await _deliver_later(request, pod, actor_id, kind)
    folder = pod.settings.home / "deliveries"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{secrets.token_hex(12)}.{kind}"
    limit = pod.settings.max_upload_mb * 1024 * 1024
    try:
        size = await _save(request, path, limit)
        if size == 0:
            raise InvalidRequest("The delivery is empty.")
        report = await run_in_threadpool(
            delivery.deliver, pod, actor_id, path, kind=kind, filename=f"delivery.{kind}"
        )
    finally:
        path.unlink(missing_ok=True)
    return FhirResponse(report.operation_outcome())


async def _save(request: Request, path: Path, limit: int) -> int:
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InvalidRequest(
                    "The delivery is larger than this server accepts.",
                    hint="Split it, or ask the operator to raise HEALTHPOD_MAX_UPLOAD_MB.",
                )
            out.write(chunk)
    return size


async def _deliver_later(
    request: Request, pod: Pod, actor_id: int, kind: delivery.Kind
) -> FhirResponse:
    job, path = deliveries.new_delivery(pod.settings.home, actor_id, kind)
    try:
        job.size = await _save(request, path, pod.settings.max_upload_mb * 1024 * 1024)
        if job.size == 0:
            raise InvalidRequest("The delivery is empty.")
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    deliveries.save(pod.settings.home, job)
    await run_in_threadpool(queue_of(request.app.state).enqueue_delivery, job)
    status_url = f"{pod.settings.public_base_url}/fhir/$deliver-status/{job.id}"
    return FhirResponse(
        operation_outcome(
            "The delivery is queued; its outcome will be at the Content-Location.",
            code="informational",
            severity="information",
        ),
        status_code=202,
        headers={"content-location": status_url},
    )


@router.get("/$deliver-status/{job_id}")
def delivery_status(request: Request, job_id: str) -> FhirResponse:
    """The outcome of a queued delivery, for the client that sent it."""
    actor_id = _caller(request)
    job = deliveries.load_for(pod_of(request).settings.home, job_id, actor_id)
    if job is None:
        raise NotFound("There is no such delivery of this client.")
    if not job.finished:
        return FhirResponse(
            operation_outcome(
                f"The delivery is {job.status}.", code="informational", severity="information"
            ),
            status_code=202,
            headers={"x-progress": job.status, "retry-after": "2"},
        )
    if job.status == "completed" and job.outcome is not None:
        return FhirResponse(job.outcome)
    return outcome_response(
        job.error_status or 500, job.error or "The delivery failed.", hint=job.hint
    )
