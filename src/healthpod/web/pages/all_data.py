"""All of my data: every type the person has, their workouts, and blood pressure as one chart.

`/all-data` lists each stored type with its count, period, latest value and sources, linking
to its page (`/type/{code}`; both blood-pressure types to `/blood-pressure`). `/workouts` is
the list of workouts and `/workouts/{id}` one of them with its heart rate and route, drawn as
a plain SVG track (no map tiles, so nothing leaves the pod). Everything is read through the
person's own door (`person.data`), by `store.catalogue` and `store.workouts`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from healthpod.errors import HealthpodError
from healthpod.insights import stats
from healthpod.store import catalogue, workouts
from healthpod.vocabulary import sample_type
from healthpod.web import labels, localtime, map_tiles
from healthpod.web.auth import PersonDep
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
BP_TYPES = ("blood_pressure_systolic", "blood_pressure_diastolic")
CATEGORY_ORDER = tuple(labels.CATEGORIES)


def type_href(code: str) -> str:
    """Where a type's chart and table are."""
    return "/blood-pressure" if code in BP_TYPES else f"/type/{code}"


@dataclass(frozen=True, slots=True)
class Group:
    category: str
    types: list[catalogue.TypeSummary]


@router.get("/all-data")
def all_data(request: Request, person: PersonDep) -> Response:
    with person.data.reader() as read:
        found = catalogue.type_summaries(read)
        workout_count = workouts.count(read)
        offset = localtime.offset_min(read)
    request.state.offset_min = offset
    groups: dict[str, list[catalogue.TypeSummary]] = {}
    for summary in found:
        known = sample_type(summary.code)
        category = known.category.value if known else "other"
        groups.setdefault(category, []).append(summary)
    ordered = [
        Group(c, sorted(groups[c], key=lambda s: labels.type_label(s.code)))
        for c in sorted(
            groups, key=lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99
        )
    ]
    return render(
        request,
        "all_data.html",
        {"groups": ordered, "workout_count": workout_count, "type_href": type_href},
    )


@router.get("/workouts")
def workout_list(request: Request, person: PersonDep) -> Response:
    _ = gettext_for(request)
    raw_page = request.query_params.get("page", "1")
    with person.data.reader() as read:
        total = workouts.count(read)
        pages = max(1, -(-total // PAGE_SIZE))
        error = None
        try:
            page = int(raw_page)
            if page < 1:
                raise ValueError
        except ValueError:
            page = 1
            error = _("The page number must be a whole number from 1 to %(pages)s.", pages=pages)
        if page > pages:
            error = _(
                "There is no page %(page)s: the workouts fill %(pages)s pages. "
                "Go to the last page instead.",
                page=page,
                pages=pages,
            )
            page = pages
        rows = workouts.page(read, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(
        request,
        "workouts.html",
        {"rows": rows, "page": page, "pages": pages, "total": total, "error": error},
        status_code=404 if error and raw_page.isdigit() else (400 if error else 200),
    )


@router.get("/workouts/{workout_id}")
def workout_page(request: Request, workout_id: str, person: PersonDep) -> Response:
    _ = gettext_for(request)
    found = None
    if workout_id.isdigit() and len(workout_id) < 19:
        with person.data.reader() as read:
            found = workouts.detail(read, int(workout_id))
    if found is None:
        return render(
            request,
            "error.html",
            {
                "title": _("Workout not found"),
                "message": _("There is no workout %(id)s in your pod.", id=workout_id[:40]),
                "hint": _("Pick a workout from the list of workouts."),
                "back": "/workouts",
            },
            status_code=404,
        )
    template = request.app.state.settings.map_tile_url
    tiled = map_tiles.tiled(found.route, template) if map_tiles.wanted(request) else None
    response = render(
        request,
        "workout.html",
        {"w": found, "track": svg_track(found.route), "tiled": tiled},
    )
    if tiled is not None:
        map_tiles.allow_tiles(response, template)
    return response


@dataclass(frozen=True, slots=True)
class Track:
    points: str  # the polyline's "x,y x,y …" in a 320 x 240 box
    start: tuple[float, float]
    end: tuple[float, float]


def svg_track(route: list[tuple[float, float]]) -> Track | None:
    """The route projected onto a 320 x 240 box (equirectangular, north up), or None."""
    if len(route) < 2:
        return None
    lat0 = math.radians(sum(lat for lat, _ in route) / len(route))
    xs = [lon * math.cos(lat0) for _, lon in route]
    ys = [-lat for lat, _ in route]
    width, height, margin = 320.0, 240.0, 12.0
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    scale = min((width - 2 * margin) / span, (height - 2 * margin) / span)
    dx = (width - (max(xs) - min(xs)) * scale) / 2
    dy = (height - (max(ys) - min(ys)) * scale) / 2
    coords = [
        (round((x - min(xs)) * scale + dx, 1), round((y - min(ys)) * scale + dy, 1))
        for x, y in zip(xs, ys, strict=True)
    ]
    return Track(" ".join(f"{x},{y}" for x, y in coords), coords[0], coords[-1])


def parse_period(
    request: Request, default_days: int, today: date
) -> tuple[date, date, dict[str, str]]:
    """The form's from/to dates, or the last `default_days` days, and errors per field."""
    _ = gettext_for(request)
    params = request.query_params
    errors: dict[str, str] = {}
    values: dict[str, date | None] = {}
    for field in ("from", "to"):
        text = params.get(field, "").strip()
        values[field] = None
        if text:
            try:
                values[field] = date.fromisoformat(text)
            except ValueError:
                errors[field] = _(
                    "“%(value)s” is not a date. Pick a day in the date field (YYYY-MM-DD).",
                    value=text[:40],
                )
    end = values["to"] or today
    start = values["from"] or end - timedelta(days=default_days - 1)
    if not errors and start > end:
        errors["to"] = _("The “To” date is before the “From” date. Pick a later “To” date.")
    return start, end, errors


def _epoch_noon(day: str) -> int:
    d = date.fromisoformat(day[:10])
    return int(datetime(d.year, d.month, d.day, 12, tzinfo=UTC).timestamp())


@router.get("/blood-pressure")
def blood_pressure(request: Request, person: PersonDep) -> Response:
    _ = gettext_for(request)
    with person.data.writer(
        remember=True
    ) as write:  # the statistics engine catches up daily summaries
        offset = localtime.offset_min(write)
        today = localtime.today(offset)
        start, end, errors = parse_period(request, 90, today)
        results: dict[str, stats.Stats] = {}
        if not errors:
            # Both types' days in one query; described types carry no per-source amounts.
            found_days = stats.days_of_types(write, BP_TYPES, start, end)
            for code in BP_TYPES:
                try:
                    results[code] = found_days[code].stats("day", start, end)
                except (KeyError, HealthpodError):
                    continue
    request.state.offset_min = offset
    days: dict[str, dict[str, Any]] = {}
    for code, found in results.items():
        for b in found.buckets:
            row = days.setdefault(b.start, {"day": b.start, "count": 0})
            row[code] = b
            row["count"] = max(row["count"], b.count)
    ordered = sorted(days)
    series = json.dumps(
        [
            [_epoch_noon(d) for d in ordered],
            [_mean(days[d].get(BP_TYPES[0])) for d in ordered],
            [_mean(days[d].get(BP_TYPES[1])) for d in ordered],
        ]
    )
    form = {k: request.query_params.get(k, "") for k in ("from", "to")}
    return render(
        request,
        "blood_pressure.html",
        {
            "rows": [days[d] for d in reversed(ordered)],
            "series": series,
            "series_labels": json.dumps([_("Systolic"), _("Diastolic")]),
            "start": start,
            "end": end,
            "errors": errors,
            "form": form,
        },
        status_code=400 if errors else 200,
    )


def _mean(bucket: stats.BucketStat | None) -> float | None:
    return None if bucket is None or bucket.mean is None else round(bucket.mean, 1)
