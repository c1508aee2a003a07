"""The FHIR R4 API under /fhir.

Every handler follows the same path: parse and check the request (search.py), authenticate and
decide by consent, logging the verdict (access.py), then query the store with the decision's
scope applied inside SQL, and render. A resource outside the scope is a 404, the same as one
that does not exist; errors are OperationOutcomes (outcome.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from healthpod.consent.actors import get_actor
from healthpod.consent.model import Action
from healthpod.errors import AccessDenied, InvalidRequest, NotFound
from healthpod.fhir import (
    capability,
    observation_search,
    render,
    resource_search,
    search,
    writes,
)
from healthpod.fhir.access import Access, check, pod_of, returned
from healthpod.fhir.outcome import (
    FHIR_JSON,
    FhirResponse,
    FhirRoute,
    NotModified,
    RoutingErrorsAsOutcomes,
    operation_outcome,
)
from healthpod.insights import summaries
from healthpod.short_requests import short_request
from healthpod.vocabulary import RESOURCE_CATEGORIES

router = APIRouter(
    prefix="/fhir", route_class=FhirRoute, tags=["fhir"], default_response_class=FhirResponse
)
ETAG = 'W/"1"'


def fhir_base(request: Request) -> str:
    return pod_of(request).settings.public_base_url + "/fhir"


def _check_format(request: Request) -> None:
    wanted = request.query_params.get("_format")
    if wanted is not None and wanted not in ("json", "application/json", FHIR_JSON):
        raise InvalidRequest(f"_format={wanted}: we only speak JSON.", hint="Use _format=json.")
    accept = request.headers.get("accept", "")
    if accept and "xml" in accept and "json" not in accept and "*/*" not in accept:
        raise NotAcceptable("We only serve FHIR JSON.", hint="Accept application/fhir+json.")


class NotAcceptable(InvalidRequest):
    status = 406
    code = "not-supported"


def _strict(request: Request) -> bool:
    return search.handling(request.headers.get("prefer")) == "strict"


def _if_none_match(request: Request) -> None:
    sent = request.headers.get("if-none-match")
    if sent is not None and sent.strip() in ("1", '"1"', ETAG, "*"):
        raise NotModified(ETAG)


def _resource(request: Request, resource: dict[str, Any]) -> FhirResponse:
    _if_none_match(request)
    return FhirResponse(resource, headers={"ETag": ETAG})


@router.get("/metadata")
def metadata(request: Request) -> FhirResponse:
    """The CapabilityStatement; readable without a token."""
    _check_format(request)
    settings = pod_of(request).settings
    return FhirResponse(
        capability.capability_statement(
            settings.public_base_url,
            sorted(RESOURCE_CATEGORIES),
            cors=bool(settings.cors_origins),
        )
    )


# --- Patient -------------------------------------------------------------------------------


@router.get("/Patient/{patient_id}")
def read_patient(request: Request, patient_id: str) -> FhirResponse:
    """The person whose pod this is (an actor sees only the person it was authorized for)."""
    _check_format(request)
    access = check(
        request,
        action=Action.READ,
        resource_type="Patient",
        event="fhir.read",
        details={"path": f"Patient/{patient_id}"},
    )
    if patient_id != access.patient_id:
        returned(request, access, [])
        raise NotFound(f"Patient/{patient_id} is not known here.")
    patient = load_patient(access)
    returned(request, access, [patient])
    return _resource(request, patient)


def load_patient(access: Access) -> dict[str, Any]:
    """The Patient as the access's scope shows it: without `identity`, its id alone."""
    with access.data.reader() as read:
        identity = read.identity()
    if identity is None:
        raise NotFound(f"Patient/{access.patient_id} is not known here.")
    return render.patient(identity)


@router.get("/Patient")
def search_patient(request: Request) -> FhirResponse:
    _check_format(request)
    query = search.parse(
        "Patient",
        request.query_params.multi_items(),
        strict=_strict(request),
        allowed=frozenset({"_id"}),
    )
    access = check(
        request,
        action=Action.READ,
        resource_type="Patient",
        event="fhir.search",
        details={"query": str(request.url.query)[:500]},
    )
    resources = []
    if not query.ids or access.patient_id in query.ids:
        resources = [load_patient(access)]
    if query.count == 0 or query.summary_count:
        resources_shown: list[dict[str, Any]] = []
    else:
        resources_shown = resources
    total = len(resources) if (query.want_total or query.summary_count) else None
    returned(request, access, resources_shown)
    return FhirResponse(
        render.searchset(
            fhir_base(request),
            "Patient",
            resources_shown,
            self_params=search.self_params(query),
            next_params=None,
            total=total,
        )
    )


# --- Observation ---------------------------------------------------------------------------


# Declared for the OpenAPI document (and so schemathesis fuzzes them) but not as function
# parameters: search.parse reads and checks the query string itself, repeated parameters
# included, and FastAPI validating eleven optional parameters first was a tenth of a page's
# time.
def _query_parameter(name: str, description: str, *, repeats: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if repeats:
        schema = {"type": "array", "items": {"type": "string"}}
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


OBSERVATION_QUERY = [
    _query_parameter("patient", "Patient/<id> or <id>"),
    _query_parameter("code", "system|code, comma for OR"),
    _query_parameter("category", "vital-signs, activity, …"),
    _query_parameter("date", "ge2024-01-05 and other prefixes", repeats=True),
    _query_parameter("_lastUpdated", "like date", repeats=True),
    _query_parameter("_id", "Observation ids, comma for OR"),
    _query_parameter("_count", "page size, 0 for the total only"),
    _query_parameter("_sort", "date or -date"),
    _query_parameter("_summary", "count"),
    _query_parameter("_total", "none, estimate or accurate"),
    _query_parameter("_cursor", "from a next link"),
]


@router.get("/Observation", openapi_extra={"parameters": OBSERVATION_QUERY})
@short_request
def search_observations(request: Request) -> FhirResponse:
    """Observation search: patient, code, category, date, _lastUpdated, _id, paging."""
    _check_format(request)
    query = search.parse(
        "Observation",
        request.query_params.multi_items(),
        strict=_strict(request),
        allowed=search.OBSERVATION_PARAMS,
    )
    access = check(
        request,
        action=Action.READ,
        resource_type="Observation",
        event="fhir.search",
        details={"query": str(request.url.query)[:500]},
    )
    bundle = observation_bundle(request, access, query, "Observation")
    returned(request, access, [e["resource"] for e in bundle.get("entry", [])])
    if query.include_patient and bundle.get("entry"):
        entry = patient_entry(request, access, event="fhir.include", mode="include")
        if entry is not None:
            bundle["entry"].append(entry)
    return FhirResponse(bundle)


def patient_entry(
    request: Request, access: Access, *, event: str, mode: str
) -> dict[str, Any] | None:
    """The person as a Bundle entry, when the caller may read Patient; else None.

    Reading the person is an access of its own: decided and logged like a Patient read (and
    shown as its id alone without `identity`). A caller whose scopes or consent do not reach
    Patient gets the Bundle without it, as FHIR lets a server leave out what it will not
    include.
    """
    scopes = access.caller.scopes
    if scopes is not None and not scopes.allows("Patient", "r"):
        return None
    try:
        patient_access = check(
            request,
            action=Action.READ,
            resource_type="Patient",
            event=event,
            details={"path": f"Patient/{access.patient_id}"},
        )
    except AccessDenied:
        return None
    patient = load_patient(patient_access)
    returned(request, patient_access, [patient])
    return {
        "fullUrl": f"{fhir_base(request)}/Patient/{patient_access.patient_id}",
        "resource": patient,
        "search": {"mode": mode},
    }


def _summaries_current(access: Access) -> None:
    """Daily summaries include every import before a daily-only caller reads them."""
    if access.data.scope.daily_only:
        with access.data.writer() as write:
            summaries.catch_up(write)


def observation_bundle(
    request: Request, access: Access, query: search.SearchQuery, path: str
) -> dict[str, Any]:
    _summaries_current(access)
    with access.data.reader() as read:
        resources, next_cursor, total = observation_search.search(read, query)
    next_params = None
    if next_cursor is not None:
        next_params = [*search.self_params(query), ("_cursor", next_cursor.text())]
    return render.searchset(
        fhir_base(request),
        path,
        resources,
        self_params=search.self_params(query),
        next_params=next_params,
        total=total,
    )


@router.get("/Observation/{observation_id}")
@short_request
def read_observation(request: Request, observation_id: str) -> FhirResponse:
    _check_format(request)
    access = check(
        request,
        action=Action.READ,
        resource_type="Observation",
        event="fhir.read",
        details={"path": f"Observation/{observation_id[:100]}"},
    )
    _summaries_current(access)
    with access.data.reader() as read:
        found = observation_search.read_one(read, observation_id)
    returned(request, access, [] if found is None else [found])
    if found is None:
        raise NotFound(f"Observation/{observation_id} is not known here.")
    return _resource(request, found)


@router.post("/Observation", status_code=201)
async def create_observation(request: Request) -> Response:
    """Add an Observation as the actor's own data (needs patient/Observation.c and a write
    consent covering its category). `Prefer: return=minimal|representation|OperationOutcome`."""
    if request.query_params:
        raise InvalidRequest(
            "Conditional create (search parameters on POST) is not supported.",
            hint="POST the Observation without query parameters.",
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > writes.MAX_BODY_BYTES:
        raise writes.PayloadTooLarge(f"The body is over {writes.MAX_BODY_BYTES // 1024} KB.")
    body = await request.body()
    resource = writes.parse_observation(request.headers.get("content-type"), body)
    return await run_in_threadpool(_create, request, resource)


def _create(request: Request, resource: dict[str, Any]) -> Response:
    access = check(
        request,
        action=Action.WRITE,
        resource_type="Observation",
        event="fhir.create",
        details={"path": "Observation"},
    )
    name = "the person"
    if access.caller.actor_id is not None:
        with pod_of(request).reads.connect() as conn:
            name = get_actor(conn, access.caller.actor_id).name
    with access.data.writer() as write:
        stored = writes.store_observation(write, resource, actor_name=name, now_ms=access.now_ms)
    created = resource_search.as_fhir_json(stored, access.patient_id)
    location = f"{fhir_base(request)}/Observation/{created['id']}/_history/1"
    headers = {"Location": location, "Content-Location": location, "ETag": ETAG}
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return Response(status_code=201, headers=headers)
    if "return=OperationOutcome" in prefer:
        outcome = operation_outcome(
            f"Created Observation/{created['id']}.", code="informational", severity="information"
        )
        return FhirResponse(outcome, status_code=201, headers=headers)
    return FhirResponse(created, status_code=201, headers=headers)


# --- records from healthcare ---------------------------------------------------------------


def _clinical_type(resource_type: str) -> str:
    if resource_type not in RESOURCE_CATEGORIES:
        raise NotFound(
            f"/fhir/{resource_type[:100]} is not something this server serves.",
            hint="See /fhir/metadata for the resource types we serve.",
        )
    return resource_type


@router.get("/{resource_type}")
def search_resources(request: Request, resource_type: str) -> FhirResponse:
    """Search stored records from healthcare (Condition, Immunization, …)."""
    _check_format(request)
    kind = _clinical_type(resource_type)
    query = search.parse(
        kind,
        request.query_params.multi_items(),
        strict=_strict(request),
        allowed=search.RESOURCE_PARAMS,
    )
    access = check(
        request,
        action=Action.READ,
        resource_type=kind,
        event="fhir.search",
        details={"query": str(request.url.query)[:500]},
    )
    if query.patient_ids and any(p != access.patient_id for p in query.patient_ids):
        found: list[dict[str, Any]] = []
        total = 0
        more = False
        offset = 0
    else:
        offset = query.cursor.row_id if query.cursor is not None else 0
        size = 0 if query.summary_count else query.count
        with access.data.reader() as read:
            found, total = resource_search.search(read, query, offset=offset, limit=size + 1)
        more = len(found) > size
        found = found[:size]
    returned(request, access, found)
    next_params = None
    if more:
        cursor = resource_search.next_cursor(offset + len(found))
        next_params = [*search.self_params(query), ("_cursor", cursor.text())]
    show_total = total if (query.want_total or query.summary_count) else None
    return FhirResponse(
        render.searchset(
            fhir_base(request),
            kind,
            found,
            self_params=search.self_params(query),
            next_params=next_params,
            total=show_total,
        )
    )


@router.get("/{resource_type}/{resource_id}")
def read_resource(request: Request, resource_type: str, resource_id: str) -> FhirResponse:
    _check_format(request)
    kind = _clinical_type(resource_type)
    access = check(
        request,
        action=Action.READ,
        resource_type=kind,
        event="fhir.read",
        details={"path": f"{kind}/{resource_id[:100]}"},
    )
    with access.data.reader() as read:
        found = resource_search.read(read, kind, resource_id)
    returned(request, access, [] if found is None else [found])
    if found is None:
        raise NotFound(f"{kind}/{resource_id[:100]} is not known here.")
    _if_none_match_version(request, found)
    return FhirResponse(found, headers={"ETag": f'W/"{found["meta"]["versionId"]}"'})


def _if_none_match_version(request: Request, resource: dict[str, Any]) -> None:
    sent = request.headers.get("if-none-match")
    version = resource["meta"]["versionId"]
    if sent is not None and sent.strip() in (version, f'"{version}"', f'W/"{version}"', "*"):
        raise NotModified(f'W/"{version}"')


def register(app: FastAPI) -> None:
    from healthpod.fhir import bulk, deliveries, everything, group_export, related_person

    app.include_router(deliveries.router)
    app.include_router(group_export.router)  # before the reads: Group/{id}/$export
    app.include_router(related_person.router)  # before the clinical types' `/{type}/{id}`
    app.include_router(bulk.router)  # first: `$export` must not be taken for a type or an id
    app.include_router(everything.router)
    app.include_router(router)
    app.add_middleware(RoutingErrorsAsOutcomes)
