"""Records from healthcare: one compact list, newest first, each record once, with its value
(blood pressure 114/83 mmHg, a lab result with unit and reference range), status and dates in
words, and where it came from.

Filters (kind, period, text) are a plain GET form, so they work without JavaScript and keep their
values; paging says so when a page is past the end. Bad input (a date that is not a date, an
unknown kind, a page past the end) is a message on the same page with the form as it was sent.
Everything is read through the person's own door (`person.data.reader()`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from healthpod.store import health_records
from healthpod.store.health_records import RecordFilter
from healthpod.store.person_data import Reader
from healthpod.web import labels
from healthpod.web.auth import PersonDep
from healthpod.web.filter_errors import BadFilter
from healthpod.web.i18n import N_, Formatter
from healthpod.web.localtime import request_zone
from healthpod.web.record_view import Describer, RecordView
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
MAX_TEXT = 200
# Not records about the person: who and what the file mentions, and billing.
SKIPPED_TYPES = (
    "Patient",
    "Practitioner",
    "Organization",
    "Claim",
    "ExplanationOfBenefit",
    "Location",
    "PractitionerRole",
    "Provenance",
    "Coverage",
    "Medication",
)

MAX_PAGE = 1_000_000  # far past any list; a larger page overflows the database's offset


@dataclass(frozen=True, slots=True)
class Query:
    """The filter form as sent (kept as typed, so the form shows it again)."""

    kind: str = ""
    start: str = ""
    end: str = ""
    text: str = ""
    page: str = ""

    def link(self, page: int) -> str:
        params = {
            key: value
            for key, value in (
                ("kind", self.kind),
                ("from", self.start),
                ("to", self.end),
                ("q", self.text),
            )
            if value
        }
        if page > 1:
            params["page"] = str(page)
        return "/records" + ("?" + urlencode(params) if params else "")


def _day_ms(value: str, zone: tzinfo, *, end: bool) -> int | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
        if end:
            day += timedelta(days=1)
    except (ValueError, OverflowError):
        raise BadFilter(
            N_("“%(value)s” is not a date in the form YYYY-MM-DD."),
            N_("Pick the dates with the date fields and press Show."),
            value=value,
        ) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def parse(query: Query, zone: tzinfo) -> tuple[RecordFilter, int]:
    """The store's filter and the page number (from 1) of a sent form.

    Raises:
        BadFilter: a date that is not one, "From" after "To", an unknown kind or page.
    """
    if query.kind and query.kind not in labels.CATEGORIES:
        raise BadFilter(
            N_("There is no kind of record called “%(value)s”."),
            N_("Choose a kind from the list and press Show."),
            value=query.kind,
        )
    start = _day_ms(query.start, zone, end=False)
    stop = _day_ms(query.end, zone, end=True)
    if start is not None and stop is not None and start >= stop:
        raise BadFilter(
            N_("The “To” date is before the “From” date."),
            N_("Pick a later “To” date, or an earlier “From” date, and press Show."),
        )
    try:
        number = int(query.page) if query.page else 1
    except ValueError:
        number = 0
    if number < 1 or number > MAX_PAGE:
        raise BadFilter(
            N_("“%(value)s” is not a page number."),
            N_("Use the links under the list to move between pages."),
            value=query.page,
        )
    found = RecordFilter(SKIPPED_TYPES, query.kind or None, start, stop)
    return found, number


def _views(read: Reader, describer: Describer, rows: Any) -> list[RecordView]:
    def lookup(resource_type: str, fhir_id: str) -> dict[str, Any] | None:
        stored = read.resource(resource_type, fhir_id)
        return stored.resource if stored is not None else None

    _ = describer._
    views = []
    for row in rows:
        resource = row.json if isinstance(row.json, dict) else {}
        file = row.source_file or _("entered through the API")
        origin = f"{row.organisation}, {file}" if row.organisation else file
        view = describer.describe(
            resource,
            category=str(row.category),
            when_ms=row.effective_start_ms,
            origin=origin,
            lookup=lookup,
        )
        wrong = None if row.mark_id is None else str(row.wrong_reason)
        views.append(replace(view, id=f"{row.resource_type}/{row.fhir_id}", wrong=wrong))
    return views


@router.get("/records")
def records(request: Request, person: PersonDep) -> Response:
    params = request.query_params
    query = Query(
        kind=params.get("kind", "").strip(),
        start=params.get("from", "").strip(),
        end=params.get("to", "").strip(),
        text=params.get("q", "").strip()[:MAX_TEXT],
        page=params.get("page", "").strip(),
    )
    _ = gettext_for(request)
    describer = Describer(_, Formatter(language(request), zone=request_zone(request.state)))
    error, status = None, 200
    shown: list[RecordView] = []
    total, number = 0, 1
    with person.data.reader() as read:
        kinds = health_records.kinds(read, SKIPPED_TYPES)
        # Only the person themselves keeps things to themselves (a delegate sees no toggle).
        restricted_ids = {r.target for r in read.restricted()} if read.owner else None
        try:
            found, number = parse(query, request_zone(request.state))
        except BadFilter as exc:
            error, status = exc, 400
        else:
            offset = (number - 1) * PAGE_SIZE
            if query.text:
                wanted = query.text.casefold()
                matching = [
                    view
                    for view in _views(read, describer, health_records.every(read, found))
                    if wanted in view.text().casefold()
                ]
                total, shown = len(matching), matching[offset : offset + PAGE_SIZE]
            else:
                rows, total = health_records.page(read, found, limit=PAGE_SIZE, offset=offset)
                shown = _views(read, describer, rows)
    pages = max(1, -(-total // PAGE_SIZE))
    past_end = error is None and number > pages
    if past_end:
        status = 404
    return render(
        request,
        "records.html",
        {
            "query": query,
            "kinds": [(key, label) for key, label in labels.CATEGORIES.items() if key in kinds],
            "kind_counts": kinds,
            "has_records": bool(kinds),
            "records": shown,
            "total": total,
            "page": number,
            "pages": pages,
            "past_end": past_end,
            "error": error,
            "filtered": any((query.kind, query.start, query.end, query.text)),
            "restricted_ids": restricted_ids,
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
        status_code=status,
    )
