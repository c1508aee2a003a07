"""The access log: who read or tried to read what, when, the outcome and why in plain words;
filters by who, result and period; the person's sign-ins of a day folded into one row.

The person's own acts (sign-ins, consents given or revoked, exports) are shown as theirs
("You"), and what a request returned (its `returned` entry) is shown with the decision it
completes. A filter this page cannot use is a message on the page, with the form as sent.
Below, read-only, the history the person brought from a pod they moved from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from healthpod.consent import actors, log_pages
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.filter_errors import BadFilter
from healthpod.web.i18n import N_, Formatter
from healthpod.web.localtime import request_zone
from healthpod.web.log_view import OUTCOME_WORDS, LogWords
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The filter form as sent."""

    actor: str = ""
    outcome: str = ""
    start: str = ""
    end: str = ""

    def params(self) -> dict[str, str]:
        sent = [("actor", self.actor), ("outcome", self.outcome)]
        sent += [("from", self.start), ("to", self.end)]
        return {key: value for key, value in sent if value}

    def link(self, before: int | None = None) -> str:
        params = self.params()
        if before is not None:
            params["before"] = str(before)
        return "/access-log" + ("?" + urlencode(params) if params else "")


def _day_ms(value: str, zone: tzinfo, *, end: bool) -> int | None:
    """Epoch ms of the start of a local day (or of the next day, for an inclusive end)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
        if end:
            day += timedelta(days=1)
    except (ValueError, OverflowError):  # not a date, or the day after 9999-12-31
        raise BadFilter(
            N_("“%(value)s” is not a date in the form YYYY-MM-DD."),
            N_("Pick the dates with the date fields and press Filter."),
            value=value,
        ) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@router.get("/access-log")
def access_log(request: Request, person: PersonDep) -> Response:
    params = request.query_params
    query = LogQuery(
        actor=params.get("actor", "").strip(),
        outcome=params.get("outcome", "").strip(),
        start=params.get("from", "").strip(),
        end=params.get("to", "").strip(),
    )
    zone = request_zone(request.state)
    _ = gettext_for(request)
    before = _int(params.get("before"))
    rows, error, older = [], None, None
    with pod_of(request).engine.connect() as conn:
        names = {a.id: a for a in actors.list_actors(conn)}
        try:
            by_you = query.actor == "you"
            actor_id = None if by_you else _int(query.actor)
            if query.actor and not by_you and actor_id not in names:
                raise BadFilter(
                    N_("There is no one called “%(value)s” in your access log."),
                    N_("Choose who from the list and press Filter."),
                    value=query.actor,
                )
            if query.outcome and query.outcome not in log_pages.OUTCOME_GROUPS:
                raise BadFilter(
                    N_("There is no result called “%(value)s”."),
                    N_("Choose a result from the list and press Filter."),
                    value=query.outcome,
                )
            start = _day_ms(query.start, zone, end=False)
            stop = _day_ms(query.end, zone, end=True)
            if start is not None and stop is not None and start >= stop:
                raise BadFilter(
                    N_("The “To” date is before the “From” date."),
                    N_("Pick a later “To” date, or an earlier “From” date, and press Filter."),
                )
        except BadFilter as exc:
            error = exc
        else:
            entries, returned = log_pages.entries(
                conn,
                person.person_id,
                by_person=by_you,
                actor_id=actor_id,
                outcome=query.outcome or None,
                from_ms=start,
                to_ms=stop,
                before_seq=before,
                limit=PAGE_SIZE + 1,
            )
            more = len(entries) > PAGE_SIZE
            entries = entries[:PAGE_SIZE]
            words = LogWords(
                _,
                Formatter(language(request), zone=zone),
                {a.id: a.name for a in names.values()},
            )
            rows = words.fold_sign_ins([words.row(e, returned.get(e["seq"])) for e in entries])
            older = entries[-1]["seq"] if more and entries else None
    # The previous pod's history is the person's own: a delegate acting for them does not see it.
    with person.data.reader() as read:
        previous = read.previous_pod() if read.owner else None
    return render(
        request,
        "access_log.html",
        {
            "previous": previous,
            "rows": rows,
            "actors": names,
            "query": query,
            "outcome_words": OUTCOME_WORDS,
            "outcomes": log_pages.OUTCOME_GROUPS,
            "error": error,
            "older": older,
            "paged": before is not None,
        },
        status_code=400 if error is not None else 200,
    )
