"""The overview: today and this week for the main types, the findings, and small charts.

Every number comes from the statistics engine (`insights.stats.bucket_stats`), so the page
shows exactly what `healthpod stats` and the JSON API say.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request, Response

from healthpod.errors import HealthpodError
from healthpod.insights import findings, stats, summaries
from healthpod.insights.measures import Method
from healthpod.store import import_history
from healthpod.store.person_data import Writer
from healthpod.web import labels, localtime
from healthpod.web.auth import PersonDep
from healthpod.web.findings_text import ShownFinding, show
from healthpod.web.i18n import Formatter
from healthpod.web.render import gettext_for, language, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# The types the overview shows, in this order, when the person has them.
MAIN_TYPES = (
    "steps",
    "exercise_time",
    "sleep_analysis",
    "resting_heart_rate",
    "heart_rate",
    "hrv_sdnn",
    "body_mass",
    "blood_pressure_systolic",
    "blood_pressure_diastolic",
)
SPARK_DAYS = 30


@dataclass(frozen=True, slots=True)
class Tile:
    """One type on the overview."""

    code: str
    label: str
    unit: str
    method: str
    today: float | None
    week: float | None
    series: str  # JSON [[epoch seconds...], [values...]] for the small chart


def local_today(write: Writer) -> date:
    """Today in the person's local time."""
    summaries.catch_up(write)
    return localtime.today(localtime.offset_min(write))


def bucket_value(bucket: stats.BucketStat, method: str) -> float | None:
    """The one number of a bucket: the mean for described types, per night for sleep, else sum."""
    if method == Method.DESCRIBE.value:
        return bucket.mean
    if method == Method.SLEEP.value:
        return bucket.mean
    return bucket.total


def tiles(write: Writer, today: date) -> list[Tile]:
    """The tiles of the types the person has data of in the last month, in `MAIN_TYPES`
    order: every type's days read in one query, not a few per type."""
    start = today - timedelta(days=SPARK_DAYS - 1)
    found = stats.days_of_types(write, MAIN_TYPES, start, today)
    shown = []
    for code in MAIN_TYPES:
        if code in found and (made := tile(found[code], today)) is not None:
            shown.append(made)
    return shown


def tile(days: stats.TypeDays, today: date) -> Tile | None:
    """The tile of one type, or None when the person has no data of it in the last month."""
    try:
        daily = days.stats("day", today - timedelta(days=SPARK_DAYS - 1), today)
    except HealthpodError:
        return None
    monday = today - timedelta(days=today.weekday())
    try:
        weekly = days.stats("week", monday, today)
        week = bucket_value(weekly.buckets[0], weekly.method.value) if weekly.buckets else None
    except HealthpodError:
        week = None
    method = daily.method.value
    by_day = {b.start: bucket_value(b, method) for b in daily.buckets}
    xs, ys = [], []
    for b in daily.buckets:
        day = date.fromisoformat(b.start)
        xs.append(int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()))
        ys.append(by_day[b.start])
    return Tile(
        code=days.measure.code,
        label=labels.type_label(days.measure.code),
        unit=labels.unit_label(daily.unit),
        method=method,
        today=by_day.get(today.isoformat()),
        week=week,
        series=json.dumps([xs, ys]),
    )


def findings_for(request: Request, write: Writer) -> list[ShownFinding]:
    """The insight engine's findings, most serious first, in the person's language."""
    _ = gettext_for(request)
    fmt = Formatter(language(request))
    return [show(found, _, fmt) for found in findings.findings(write)]


@router.get("/")
def overview(request: Request, person: PersonDep) -> Response:
    with person.data.writer(remember=True) as write:
        has_data = import_history.count(write)
        today = local_today(write)
        shown_tiles = tiles(write, today)
        shown = findings_for(request, write)
    return render(
        request,
        "overview.html",
        {"tiles": shown_tiles, "today": today, "findings": shown, "has_data": bool(has_data)},
    )
