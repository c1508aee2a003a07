"""Deliveries from healthcare: a backend client posts records for many patients.

    POST /fhir/$deliver     Authorization: Bearer <backend token, system/*.c>
        Content-Type: application/fhir+ndjson   (Bulk NDJSON: one resource per line)
                   or application/fhir+json     (a transaction or collection Bundle)
    → 200 OperationOutcome: one issue per patient, stored or not and why

The body is written to a file in the pod's home, delivered (`identity.delivery.deliver`, which
a job queue can run later just as well) and removed.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from healthpod.errors import InvalidRequest, UnsupportedFormat
from healthpod.fhir.access import now_ms, pod_of
from healthpod.fhir.outcome import FhirResponse, FhirRoute, Unauthorized
from healthpod.identity import delivery
from healthpod.oauth import backend

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
