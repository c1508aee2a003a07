"""The access log: who read or tried to read what, when, under which consent; filters, paging.

The person's own acts (log in, consents given or revoked, exports) are shown as theirs ("You"),
and what a request returned (its `returned` entry) is shown with the decision it completes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from healthpod.consent import actors
from healthpod.consent.audit import DoneBy
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
    by_you = params.get("actor") == "you"
    actor_id = None if by_you else _int(params.get("actor"))
    outcome = params.get("outcome") if params.get("outcome") in OUTCOMES else None
    start = _day(params.get("from"), offset, end=False)
    stop = _day(params.get("to"), offset, end=True)
    before = _int(params.get("before"))
    log = schema.access_log
    query = select(log).where(log.c.person_id == person.person_id, log.c.refers_to.is_(None))
    if by_you:
        query = query.where(log.c.done_by == DoneBy.PERSON.value)
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
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        returned = {
            row["refers_to"]: row
            for row in conn.execute(
                select(log.c.refers_to, log.c.details).where(
                    log.c.person_id == person.person_id,
                    log.c.refers_to.in_([row["seq"] for row in rows]),
                )
            ).mappings()
        }
        names = {a.id: a for a in actors.list_actors(conn)}
    filters = {
        key: params.get(key, "") for key in ("actor", "outcome", "from", "to") if params.get(key)
    }
    return render(
        request,
        "access_log.html",
        {
            "entries": rows,
            "returned": returned,
            "actors": names,
            "by_you": by_you,
            "filters": filters,
            "actor_id": actor_id,
            "outcome": outcome,
            "outcomes": OUTCOMES,
            "older": rows[-1]["seq"] if more and rows else None,
            "paged": before is not None,
        },
    )
