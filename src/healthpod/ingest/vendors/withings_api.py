"""Withings web API payloads (measure getmeas, getactivity, getintradayactivity, sleep get and
getsummary), as captured in Open mHealth Shimmer's tests.

A measure's value is `value * 10**unit` in the type's SI unit; `category` 2 marks a goal, not a
measurement. Times are epoch seconds; the local offset comes from the payload's IANA `timezone`
(the offset in force at each instant), else 0 with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthpod.ingest import zones
from healthpod.ingest.base import Correlation, Item, SourceRef, Warning_
from healthpod.ingest.vendors.common import Emitter, number

SOURCE = SourceRef(name="Withings", kind="device")
EMIT = Emitter(SOURCE)

# measure type → (our type, canonical unit, factor from Withings' SI unit, known)
MEASURES: dict[int, tuple[str, str, float, bool]] = {
    1: ("body_mass", "kg", 1.0, True),
    4: ("body_height", "cm", 100.0, True),
    5: ("lean_body_mass", "kg", 1.0, True),  # fat-free mass
    6: ("body_fat_percentage", "%", 1.0, True),
    8: ("withings:fat_mass", "kg", 1.0, False),
    9: ("blood_pressure_diastolic", "mm[Hg]", 1.0, True),
    10: ("blood_pressure_systolic", "mm[Hg]", 1.0, True),
    11: ("heart_rate", "/min", 1.0, True),
    12: ("body_temperature", "Cel", 1.0, True),
    54: ("oxygen_saturation", "%", 1.0, True),
    71: ("body_temperature", "Cel", 1.0, True),
    73: ("withings:skin_temperature", "Cel", 1.0, False),
    76: ("withings:muscle_mass", "kg", 1.0, False),
    77: ("withings:hydration", "kg", 1.0, False),
    88: ("withings:bone_mass", "kg", 1.0, False),
    91: ("withings:pulse_wave_velocity", "m/s", 1.0, False),
}

SLEEP_STATES = {
    0: "HKCategoryValueSleepAnalysisAwake",
    1: "HKCategoryValueSleepAnalysisAsleepCore",
    2: "HKCategoryValueSleepAnalysisAsleepDeep",
    3: "HKCategoryValueSleepAnalysisAsleepREM",
}
NO_ZONE = (
    f"the payload names no time zone; times are stored with offset +00:00 ({zones.HOW_TO_SAY})"
)


def claims(document: Any) -> bool:
    body = document.get("body") if isinstance(document, dict) else None
    return (
        isinstance(body, dict)
        and "status" in document
        and bool({"measuregrps", "activities", "series"} & set(body))
    )


def read(document: dict[str, Any]) -> Iterator[Item]:
    body = document["body"]
    zone = _zone(body.get("timezone"))
    if "measuregrps" in body:
        yield from _measures(body["measuregrps"], zone)
    elif "activities" in body:
        yield from _activities(body["activities"])
    elif isinstance(body.get("series"), dict):
        yield from _intraday(body["series"], zone)
    elif isinstance(body.get("series"), list):
        yield from _sleep(body["series"], zone)


def _zone(name: Any) -> ZoneInfo | None:
    """The payload's zone; where it names none, the one the person gave (`zones`), if any."""
    if not isinstance(name, str):
        return zones.assumed()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return zones.assumed()


def _offset(zone: ZoneInfo | None, epoch_s: float) -> int:
    if zone is None:
        return 0
    delta = datetime.fromtimestamp(epoch_s, UTC).astimezone(zone).utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


def _measures(groups: Any, zone: ZoneInfo | None) -> Iterator[Item]:
    if zone is None:
        yield Warning_("body.timezone", NO_ZONE)
    goals, unknown = 0, set()
    for n, group in enumerate(groups if isinstance(groups, list) else []):
        moment = number(group.get("date")) if isinstance(group, dict) else None
        if moment is None:
            yield Warning_(f"measuregrps[{n}]", "a measure group without a date; skipped")
            continue
        if group.get("category") == 2:
            goals += 1
            continue
        start_ms, offset = int(moment * 1000), _offset(zone, moment)
        meta = {"withings_group": group.get("grpid"), "withings_attrib": group.get("attrib")}
        if group.get("comment"):
            meta["comment"] = group["comment"]
        samples = []
        for measure in group.get("measures") or []:
            kind = MEASURES.get(measure.get("type"))
            value, scale = number(measure.get("value")), number(measure.get("unit"))
            if kind is None:
                unknown.add(measure.get("type"))
                continue
            if value is None or scale is None:
                continue
            type_code, unit, factor, known = kind
            converted = value * 10**scale * factor
            samples.append(
                EMIT.quantity(
                    type_code, start_ms, start_ms, offset, converted, unit, known=known, meta=meta
                )
            )
        pressure = [s for s in samples if s.type_code.startswith("blood_pressure_")]
        if len(pressure) == 2:
            yield Correlation(
                type_code="blood_pressure",
                start_ms=start_ms,
                end_ms=start_ms,
                start_offset_min=offset,
                end_offset_min=offset,
                source=SOURCE,
                samples=tuple(pressure),
                meta=meta,
            )
            samples = [s for s in samples if s not in pressure]
        yield from samples
    if goals:
        yield Warning_("measuregrps", f"{goals} measure group(s) are goals, not measurements")
    if unknown:
        codes = ", ".join(str(u) for u in sorted(unknown, key=str))
        yield Warning_("measuregrps", f"measure types not known to healthpod were skipped: {codes}")


def _activities(days: Any) -> Iterator[Item]:
    for n, day in enumerate(days if isinstance(days, list) else []):
        try:
            on = date.fromisoformat(str(day.get("date")))
        except ValueError:
            yield Warning_(f"activities[{n}]", f"date {day.get('date')!r} is not YYYY-MM-DD")
            continue
        zone = _zone(day.get("timezone"))
        midnight = datetime(on.year, on.month, on.day, tzinfo=zone or UTC)
        start_ms = int(midnight.timestamp() * 1000)
        end_ms = int((midnight + timedelta(days=1)).timestamp() * 1000)
        offset = _offset(zone, midnight.timestamp())
        active_s = (number(day.get("moderate")) or 0) + (number(day.get("intense")) or 0)
        for type_code, value, unit in (
            ("steps", number(day.get("steps")), "{steps}"),
            ("distance_walking_running", _km(day.get("distance")), "km"),
            ("active_energy", number(day.get("calories")), "kcal"),
            ("exercise_time", active_s / 60, "min"),
        ):
            if value:
                yield EMIT.quantity(type_code, start_ms, end_ms, offset, value, unit)


def _km(metres: Any) -> float | None:
    value = number(metres)
    return None if value is None else value / 1000


def _intraday(series: dict[str, Any], zone: ZoneInfo | None) -> Iterator[Item]:
    if zone is None:
        yield Warning_("body.series", NO_ZONE)
    for key, entry in series.items():
        start, duration = number(key), number(entry.get("duration"))
        if start is None or duration is None:
            yield Warning_(f"series[{key}]", "an entry without start or duration; skipped")
            continue
        start_ms, end_ms = int(start * 1000), int((start + duration) * 1000)
        offset = _offset(zone, start)
        for type_code, value, unit in (
            ("steps", number(entry.get("steps")), "{steps}"),
            ("distance_walking_running", _km(entry.get("distance")), "km"),
            ("active_energy", number(entry.get("calories")), "kcal"),
        ):
            if value:
                yield EMIT.quantity(type_code, start_ms, end_ms, offset, value, unit)


def _sleep(series: list[Any], zone: ZoneInfo | None) -> Iterator[Item]:
    if zone is None and not all(isinstance(s, dict) and "timezone" in s for s in series):
        yield Warning_("body.series", NO_ZONE)
    for n, entry in enumerate(series):
        start, end = number(entry.get("startdate")), number(entry.get("enddate"))
        if start is None or end is None or end < start:
            yield Warning_(f"series[{n}]", "a sleep entry without a valid start and end; skipped")
            continue
        offset = _offset(_zone(entry.get("timezone")) or zone, start)
        span = (int(start * 1000), int(end * 1000), offset)
        if "state" in entry:
            state = SLEEP_STATES.get(entry.get("state"))
            if state is None:
                yield Warning_(f"series[{n}]", f"unknown sleep state {entry.get('state')!r}")
                continue
            yield EMIT.category("sleep_analysis", *span, state)
        else:
            summary = entry.get("data") if isinstance(entry.get("data"), dict) else {}
            meta = {"withings_summary": summary, "date": entry.get("date")}
            yield EMIT.category(
                "sleep_analysis", *span, "HKCategoryValueSleepAnalysisInBed", meta=meta
            )
