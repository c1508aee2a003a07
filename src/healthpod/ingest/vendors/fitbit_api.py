"""Fitbit Web API v1 payloads: intraday heart rate and steps, daily step series, weight logs,
sleep logs and the logged activities of a day.

Like the account export, the API gives wall-clock times without a zone; they are stored at
offset +00:00 with a warning. Where a payload holds both a day's total and its minutes, only
the minutes are stored, so the day is not counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from healthpod.ingest import zones
from healthpod.ingest.base import Item, Warning_
from healthpod.ingest.vendors.common import number
from healthpod.ingest.vendors.fitbit_export import (
    EMIT,
    NO_ZONE,
    exercise_log,
    sleep_log,
    weight_log,
)

DAY_MS = 86_400_000
KEYS = ("activities-heart", "activities-steps", "weight", "sleep", "activities")


def claims(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    if "activities" in document:
        return "summary" in document
    return any(key in document for key in KEYS)


def read(document: dict[str, Any]) -> Iterator[Item]:
    if zones.assumed() is None:
        yield Warning_("document", NO_ZONE)
    if "activities-heart-intraday" in document:
        yield from _intraday(document, "activities-heart", "heart_rate", "/min", 0)
    if "activities-steps-intraday" in document:
        yield from _intraday(document, "activities-steps", "steps", "{steps}", 60_000)
    elif isinstance(document.get("activities-steps"), list):
        yield from _daily_steps(document["activities-steps"])
    for key, reader in (("weight", weight_log), ("sleep", sleep_log), ("activities", _activity)):
        entries = document.get(key)
        if isinstance(entries, list):
            for n, entry in enumerate(entries):
                where = f"{key}[{n}]"
                try:
                    yield from reader(entry, where)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    yield Warning_(where, f"cannot be read ({exc}); skipped")


def _intraday(
    document: dict[str, Any], key: str, type_code: str, unit: str, length_ms: int
) -> Iterator[Item]:
    days = document.get(key)
    day = days[0].get("dateTime") if isinstance(days, list) and days else None
    dataset = (document.get(f"{key}-intraday") or {}).get("dataset") or []
    if not isinstance(day, str):
        yield Warning_(key, "the day of the intraday data is missing; nothing imported")
        return
    for n, point in enumerate(dataset):
        value = number(point.get("value")) if isinstance(point, dict) else None
        try:
            moment = datetime.fromisoformat(f"{day}T{point.get('time')}")
        except (ValueError, AttributeError, TypeError):
            yield Warning_(f"{key}-intraday.dataset[{n}]", "a point without a valid time; skipped")
            continue
        if value is None or (type_code == "steps" and value == 0):
            continue
        t = zones.wall_clock_ms(moment)
        yield EMIT.quantity(type_code, t, t + length_ms, zones.offset_min_at(t), value, unit)


def _daily_steps(days: list[Any]) -> Iterator[Item]:
    for n, day in enumerate(days):
        value = number(day.get("value")) if isinstance(day, dict) else None
        try:
            moment = datetime.fromisoformat(str(day.get("dateTime")))
        except (ValueError, AttributeError):
            yield Warning_(f"activities-steps[{n}]", "a day without a valid date; skipped")
            continue
        if value:
            t = zones.wall_clock_ms(moment)
            yield EMIT.quantity("steps", t, t + DAY_MS, zones.offset_min_at(t), value, "{steps}")


def _activity(entry: dict[str, Any], where: str) -> Iterator[Item]:
    """A logged activity of the API: startDate + startTime ("11:55"), duration in ms, km."""
    start = f"{entry['startDate']}T{entry.get('startTime') or '00:00'}"
    moment = datetime.fromisoformat(start)
    as_export = {
        **entry,
        "startTime": moment.strftime("%m/%d/%y %H:%M:%S"),
        "activityName": entry.get("activityParentName") or entry.get("name"),
        "distanceUnit": "Kilometer",
    }
    yield from exercise_log(as_export, where)
