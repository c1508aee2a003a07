"""`Patient/$everything`: the patient compartment within what the caller may read, paged.

    GET /fhir/Patient/{id}/$everything?_type=Observation,Condition&_since=…&start=…&end=…&_count=…

The Patient first, then Observations (samples, or daily summaries under a daily-only consent,
then Observations from healthcare), then each kind of record from healthcare in turn. Every
resource type is decided like a read of that type: the token's scopes must reach it (a type
they do not reach is left out, not refused) and the consent decides and logs it
(`fhir.everything`) on every page that touches it; the Patient is decided as a Patient read.
A type the consent does not cover is left out too.

Parameters (FHIR R4 `Patient/$everything`): `_type` (a comma list; a type we do not serve is a
400), `_since` (changed at or after), `start`/`end` (the data's own date), `_count` (page size)
and `_cursor`, which the next link carries: `<type>` or `<type>.<that type's own cursor>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request

from healthpod.consent.model import Action
from healthpod.errors import AccessDenied, InvalidRequest, NotFound
from healthpod.fhir import observation_search, render, resource_search, search
from healthpod.fhir.access import Access, check, now_ms, pod_of, returned
from healthpod.fhir.outcome import FhirResponse, FhirRoute
from healthpod.insights import summaries
from healthpod.oauth.bearer import authenticate
from healthpod.vocabulary import RESOURCE_CATEGORIES

router = APIRouter(
    prefix="/fhir", route_class=FhirRoute, tags=["fhir"], default_response_class=FhirResponse
)
# The order of a full answer: the person, their measurements, then records from healthcare.
TYPES: tuple[str, ...] = ("Patient", "Observation", *sorted(RESOURCE_CATEGORIES))
PARAMS = frozenset({"_type", "_since", "start", "end", "_count", "_cursor", "_format"})
_MAX_OFFSET = 10**15


@dataclass(frozen=True, slots=True)
class Options:
    types: tuple[str, ...]
    filters: tuple[tuple[str, str], ...]  # search parameters every type's query gets
    count: int
    cursor_type: str | None
    cursor: str | None  # the cursor inside cursor_type, None from its start
    used: tuple[tuple[str, str], ...]  # for the self and next links


def parse_options(params: Sequence[tuple[str, str]], *, strict: bool) -> Options:
    """Check the operation's parameters before anything is read.

    Raises:
        InvalidRequest: an unknown `_type`, a malformed date, `_count` or `_cursor`, a repeated
            parameter, or (strict) an unknown parameter.
    """
    single: dict[str, str] = {}
    for name, value in params:
        if name not in PARAMS:
            if strict:
                raise InvalidRequest(
                    f"$everything does not support {name[:100]!r}.",
                    hint="Use _type, _since, start, end or _count.",
                )
            continue
        if name in single:
            raise InvalidRequest(f"{name} is given twice.", hint=f"Send {name} once.")
        single[name] = value
    types = TYPES
    if "_type" in single:
        asked = [t.strip() for t in single["_type"].split(",") if t.strip()]
        unknown = [t for t in asked if t not in TYPES]
        if unknown or not asked:
            raise InvalidRequest(
                f"_type: {', '.join(u[:100] for u in unknown) or 'no type'} is not served here.",
                hint="Ask for any of: " + ", ".join(TYPES) + ".",
            )
        types = tuple(t for t in TYPES if t in asked)
    filters: list[tuple[str, str]] = []
    if "_since" in single:
        filters.append(("_lastUpdated", "ge" + _bare(single["_since"], "_since")))
    if "start" in single:
        filters.append(("date", "ge" + _bare(single["start"], "start")))
    if "end" in single:
        filters.append(("date", "le" + _bare(single["end"], "end")))
    if "start" in single and "end" in single:
        start = search.parse_date(single["start"], name="start")
        end = search.parse_date(single["end"], name="end")
        if end.end_ms <= start.start_ms:
            raise InvalidRequest(
                f"end={single['end'][:100]} is before start={single['start'][:100]}.",
                hint="Give an end on or after the start.",
            )
    # Every value is checked once here, as the queries of each type will read it.
    checked = search.parse(
        "Observation",
        [*filters, *[(k, single[k]) for k in ("_count",) if k in single]],
        strict=True,
        allowed=search.OBSERVATION_PARAMS,
    )
    cursor_type, cursor = None, None
    if "_cursor" in single:
        cursor_type, _, rest = single["_cursor"].partition(".")
        if cursor_type not in types:
            raise _stale()
        cursor = rest or None
    used = tuple(
        (k, single[k]) for k in ("_type", "_since", "start", "end", "_count") if k in single
    )
    return Options(types, tuple(filters), checked.count, cursor_type, cursor, used)


def _bare(value: str, name: str) -> str:
    """A date without a prefix (the operation's parameters are plain dates)."""
    if value[:2].isalpha():
        raise InvalidRequest(
            f"{name}={value[:100]}: a plain date is expected here.",
            hint=f"For example {name}=2024-03-01.",
        )
    search.parse_date(value, name=name)
    return value


def _stale() -> InvalidRequest:
    return InvalidRequest(
        "This paging link belongs to a listing that no longer applies.",
        hint="Start $everything again from its first page.",
    )


def _parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


# Declared for the OpenAPI document (and the fuzz run); parse_options reads the query itself.
OPENAPI_PARAMETERS = [
    _parameter("_type", "resource types, comma for OR"),
    _parameter("_since", "changed at or after this instant"),
    _parameter("start", "the data's own date, from"),
    _parameter("end", "the data's own date, to"),
    _parameter("_count", "page size"),
    _parameter("_cursor", "from a next link"),
]


@router.get("/Patient/{patient_id}/$everything", openapi_extra={"parameters": OPENAPI_PARAMETERS})
def everything(request: Request, patient_id: str) -> FhirResponse:
    """Everything in the patient's compartment that the caller may read, paged."""
    strict = search.handling(request.headers.get("prefer")) == "strict"
    options = parse_options(list(request.query_params.multi_items()), strict=strict)
    pod = pod_of(request)
    caller = authenticate(request, pod.reads, now_ms=now_ms(pod))
    if patient_id != str(caller.person_id):
        raise NotFound(f"Patient/{patient_id[:100]} is not known here.")
    types = [t for t in options.types if caller.scopes is None or caller.scopes.allows(t, "r")]
    start = 0
    if options.cursor_type is not None:
        if options.cursor_type not in types:
            raise _stale()
        start = types.index(options.cursor_type)
    found: list[dict[str, Any] | render.Rendered] = []
    next_cursor: str | None = None
    inner = options.cursor
    for resource_type in types[start:] if options.count else ():
        room = options.count - len(found)
        if room == 0:
            next_cursor = resource_type
            break
        access = _decide(request, resource_type, patient_id)
        if access is not None:
            page, more = _read(request, access, resource_type, options, inner, room)
            returned(request, access, page)
            found += page
            if more is not None:
                next_cursor = f"{resource_type}.{more}"
                break
        inner = None
    base = pod.settings.public_base_url + "/fhir"
    path = f"Patient/{patient_id}/$everything"
    next_params = None if next_cursor is None else [*options.used, ("_cursor", next_cursor)]
    return FhirResponse(
        render.searchset(
            base, path, found, self_params=options.used, next_params=next_params, total=None
        )
    )


def _decide(request: Request, resource_type: str, patient_id: str) -> Access | None:
    """The decision (and log entry) for one type, as a read of it; None when refused."""
    try:
        return check(
            request,
            action=Action.READ,
            resource_type=resource_type,
            event="fhir.everything",
            details={"path": f"Patient/{patient_id}/$everything", "type": resource_type},
        )
    except AccessDenied:
        return None


def _read(
    request: Request,
    access: Access,
    resource_type: str,
    options: Options,
    cursor: str | None,
    room: int,
) -> tuple[list[dict[str, Any] | render.Rendered], str | None]:
    """Up to `room` resources of one type from `cursor` on, and the cursor after them."""
    if resource_type == "Patient":
        if cursor is not None:
            raise _stale()
        from healthpod.fhir.routes import load_patient

        return [load_patient(access)], None
    if resource_type == "Observation":
        params = [*options.filters, ("_count", str(room))]
        if cursor is not None:
            params.append(("_cursor", cursor))
        query = search.parse("Observation", params, strict=True, allowed=search.OBSERVATION_PARAMS)
        if access.data.scope.daily_only:
            with access.data.writer() as write:
                summaries.catch_up(write)
        with access.data.reader() as read:
            page, after, _total = observation_search.search(read, query)
        return list(page), None if after is None else after.text()
    offset = 0
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > _MAX_OFFSET:
            raise _stale()
        offset = int(cursor)
    query = search.parse(
        resource_type, options.filters, strict=True, allowed=search.RESOURCE_PARAMS
    )
    with access.data.reader() as read:
        rows, _total = resource_search.search(read, query, offset=offset, limit=room + 1)
    more = str(offset + room) if len(rows) > room else None
    return list(rows[:room]), more
