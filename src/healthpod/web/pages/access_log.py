"""The access log: who read or tried to read what, when, under which consent; filters, paging."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from healthpod.consent import actors
from healthpod.errors import InvalidRequest
from healthpod.store import schema
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.i18n import N_
from healthpod.web.render import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
OUTCOMES = ("allowed", "denied", "ok", "failed")


def _day(value: str | None, offset_min: int, *, end: bool) -> int | None:
    """Epoch ms of the start of a local day (or of the next day, for an inclusive end)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
        if end:
            day += timedelta(days=1)
    except (ValueError, OverflowError):  # not a date, or the day after 9999-12-31
        raise InvalidRequest(
            N_("A date is not in the form YYYY-MM-DD."),
            hint=N_("Pick the dates with the date fields and try again."),
        ) from None
    zone = timezone(timedelta(minutes=offset_min))
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@router.get("/access-log")
def access_log(request: Request, person: PersonDep) -> Response:
    params = request.query_params
    offset = int(getattr(request.state, "offset_min", 0))
    actor_id = _int(params.get("actor"))
    outcome = params.get("outcome") if params.get("outcome") in OUTCOMES else None
    start = _day(params.get("from"), offset, end=False)
    stop = _day(params.get("to"), offset, end=True)
    before = _int(params.get("before"))
    log = schema.access_log
    query = select(log).where(log.c.person_id == person.person_id)
    if actor_id is not None:
        query = query.where(log.c.actor_id == actor_id)
    if outcome is not None:
        query = query.where(log.c.outcome == outcome)
    if start is not None:
        query = query.where(log.c.at_ms >= start)
    if stop is not None:
        query = query.where(log.c.at_ms < stop)
    if before is not None:
        query = query.where(log.c.seq < before)
    with pod_of(request).engine.connect() as conn:
        rows = list(conn.execute(query.order_by(log.c.seq.desc()).limit(PAGE_SIZE + 1)).mappings())
        names = {a.id: a for a in actors.list_actors(conn)}
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {
        key: params.get(key, "") for key in ("actor", "outcome", "from", "to") if params.get(key)
    }
    return render(
        request,
        "access_log.html",
        {
            "entries": rows,
            "actors": names,
            "filters": filters,
            "actor_id": actor_id,
            "outcome": outcome,
            "outcomes": OUTCOMES,
            "older": rows[-1]["seq"] if more and rows else None,
            "paged": before is not None,
        },
    )
