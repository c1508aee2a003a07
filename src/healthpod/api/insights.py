"""The person's JSON API for statistics, findings and sources (what the web charts read).

Every route works on the person of the session cookie only. Numbers carry their unit and
buckets their local date; bad input (unknown type, bad dates, a bucket the type does not have,
a range without data) is a 4xx with a message and a hint, never an empty chart.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request

from healthpod.insights import report, summaries
from healthpod.insights import sources as sources_
from healthpod.insights import stats as stats_
from healthpod.insights.measures import find_measure
from healthpod.insights.timefmt import parse_day
from healthpod.pod import Pod
from healthpod.store.person_data import PersonData, for_owner
from healthpod.web import session
from healthpod.web.session import PersonIdDep

router = APIRouter(prefix="/api/insights", tags=["insights"])

DateQuery = Annotated[str | None, Query(description="A local day, YYYY-MM-DD.", max_length=40)]


def _pod(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


def _fresh(request: Request, person_id: int) -> PersonData:
    """The person's own door, after their daily rows caught up with every import."""
    pod = _pod(request)
    data = for_owner(pod.engine, pod.reads, person_id)
    summaries.bring_up_to_date(data)
    return data


@router.get("/types")
def types(request: Request, person_id: PersonIdDep) -> dict[str, Any]:
    """Per stored type: sample count, unit, first and last instant (ISO 8601)."""
    with _fresh(request, person_id).writer() as write:
        found = stats_.overview(write)
    return {"types": {t.code: t.to_json() for t in found}}


@router.get("/stats/{type_code}")
def stats(
    request: Request,
    person_id: PersonIdDep,
    type_code: Annotated[str, Path(max_length=200)],
    by: Annotated[str, Query(max_length=20, description="hour, day, week or month")] = "day",
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: DateQuery = None,
) -> dict[str, Any]:
    """One type per bucket of local time; summed types de-duplicated across sources."""
    with _fresh(request, person_id).writer() as write:
        return stats_.bucket_stats(write, type_code, by, from_, to).to_json()


@router.get("/explain/{type_code}")
def explain(
    request: Request,
    person_id: PersonIdDep,
    type_code: Annotated[str, Path(max_length=200)],
    day: Annotated[str, Query(max_length=40, description="A local day, YYYY-MM-DD.")],
) -> dict[str, Any]:
    """Which source counted for which stretch of one day."""
    with _fresh(request, person_id).writer() as write:
        spans = stats_.explain_day(write, type_code, day)
    return {"type": type_code, "day": day, "spans": [s.to_json() for s in spans]}


@router.get("/findings")
def findings(request: Request, person_id: PersonIdDep, as_of: DateQuery = None) -> dict[str, Any]:
    """Findings against the person's own baseline and public guidelines (not a diagnosis), with
    each key type's baseline and 30/90/365-day trends."""
    day = parse_day(as_of, "as_of")
    with _fresh(request, person_id).writer() as write:
        return report.build(write, day).to_json()


@router.get("/sources")
def sources(
    request: Request,
    person_id: PersonIdDep,
    type_: Annotated[
        str | None, Query(alias="type", max_length=200, description="In this type's order.")
    ] = None,
) -> dict[str, Any]:
    """The person's sources in order of priority (rank 1 counts first), with sample counts."""
    with _fresh(request, person_id).writer() as write:
        code = None if type_ is None else find_measure(write, type_).code
        found = sources_.list_sources(write, code)
    return {"sources": [s.to_json() for s in found]}


def register(app: FastAPI) -> None:
    session.install(app)
    app.include_router(router)
