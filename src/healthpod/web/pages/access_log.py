"""The access log: who read or tried to read what, when, under which consent; filters, paging.

The person's own acts (log in, consents given or revoked, exports) are shown as theirs ("You"),
and what a request returned (its `returned` entry) is shown with the decision it completes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fastapi import APIRouter, Request, Response

from healthpod.consent import actors, log_pages
from healthpod.errors import InvalidRequest
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
    with pod_of(request).engine.connect() as conn:
        rows, returned = log_pages.entries(
            conn,
            person.person_id,
            by_person=by_you,
            actor_id=actor_id,
            outcome=outcome,
            from_ms=start,
            to_ms=stop,
            before_seq=before,
            limit=PAGE_SIZE + 1,
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
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
