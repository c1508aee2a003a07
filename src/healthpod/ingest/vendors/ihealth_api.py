"""iHealth OpenAPI v2 payloads (activity, blood pressure, glucose, sleep, SpO2, sport, weight).

iHealth's epoch seconds (`MDate`, `StartTime`, …) are the *local* wall-clock time counted as if
it were UTC, with the offset beside it in `TimeZone` ("-0800", or whole hours as a number);
Open mHealth Shimmer reads them the same way. Units are enums in the response: `BPUnit` 0 mmHg /
1 kPa, `BGUnit` 0 mg/dL / 1 mmol/L, `WeightUnit` 0 kg / 1 lb / 2 stone, `DistanceUnit` 0 km /
1 mile. iHealth writes 0 for "not measured", so zeros are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from healthpod.ingest import units
from healthpod.ingest.base import Correlation, Item, Quantity, SourceRef, Warning_, Workout
from healthpod.ingest.vendors.common import Emitter, naive_local_ms, number, offset_minutes

SOURCE = SourceRef(name="iHealth", kind="device")
EMIT = Emitter(SOURCE)
LISTS = (
    "ARDataList",
    "BPDataList",
    "BGDataList",
    "SRDataList",
    "BODataList",
    "SPORTDataList",
    "WeightDataList",
)
DAY_MS = 86_400_000


def claims(document: Any) -> bool:
    return isinstance(document, dict) and any(name in document for name in LISTS)


def read(document: dict[str, Any]) -> Iterator[Item]:
    for name in LISTS:
        entries = document.get(name)
        if not isinstance(entries, list):
            continue
        for n, entry in enumerate(entries):
            where = f"{name}[{n}]"
            if not isinstance(entry, dict):
                yield Warning_(where, "an entry that is not an object; skipped")
                continue
            yield from READERS[name](document, entry, where)


def _moment(entry: dict[str, Any], key: str, where: str) -> tuple[int, int] | str:
    """(epoch ms, offset min) of a local-epoch field, or a problem description."""
    local_s = number(entry.get(key))
    offset = offset_minutes(entry.get("TimeZone"))
    if local_s is None:
        return f"{key} is missing"
    if offset is None:
        return f"TimeZone {entry.get('TimeZone')!r} is not an offset"
    wall = datetime.fromtimestamp(local_s, UTC).replace(tzinfo=None)
    return naive_local_ms(wall, offset), offset


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"ihealth_id": entry.get("DataID")}
    source = entry.get("DataSource")
    if source in ("FromDevice", "Manual"):
        meta["entry"] = "device" if source == "FromDevice" else "manual"
    if entry.get("Note"):
        meta["note"] = entry["Note"]
    return meta


def _activity(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    moment = _moment(entry, "MDate", where)
    if isinstance(moment, str):
        yield Warning_(where, f"{moment}; skipped")
        return
    start_ms, offset = moment
    day_start = start_ms - ((start_ms + offset * 60_000) % DAY_MS)  # the local day of MDate
    meta = _meta(entry)
    steps = number(entry.get("Steps"))
    if steps:
        meta["calories_kcal"] = number(entry.get("Calories"))
        yield EMIT.quantity(
            "steps", day_start, day_start + DAY_MS, offset, steps, "{steps}", meta=meta
        )
    distance = number(entry.get("DistanceTraveled"))
    if distance:
        unit = "[mi_i]" if document.get("DistanceUnit") == 1 else "km"
        km = units.convert(distance, unit, "km")
        yield EMIT.quantity(
            "distance_walking_running", day_start, day_start + DAY_MS, offset, km, "km", meta=meta
        )


def _blood_pressure(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    moment = _moment(entry, "MDate", where)
    if isinstance(moment, str):
        yield Warning_(where, f"{moment}; skipped")
        return
    t, offset = moment
    unit = "kPa" if document.get("BPUnit") == 1 else "mm[Hg]"
    meta = _meta(entry)
    if entry.get("IsArr") in (0, 1):
        meta["irregular_heartbeat"] = entry["IsArr"] == 1
    pair = []
    for type_code, key in (("blood_pressure_systolic", "HP"), ("blood_pressure_diastolic", "LP")):
        value = number(entry.get(key))
        if value:
            converted = units.convert(value, unit, "mm[Hg]")
            pair.append(EMIT.quantity(type_code, t, t, offset, converted, "mm[Hg]", meta=meta))
    if len(pair) == 2:
        yield Correlation(
            type_code="blood_pressure",
            start_ms=t,
            end_ms=t,
            start_offset_min=offset,
            end_offset_min=offset,
            source=SOURCE,
            samples=tuple(pair),
            meta=meta,
        )
    else:
        yield from pair
    yield from _heart_rate(entry, t, offset, meta)


def _heart_rate(
    entry: dict[str, Any], t: int, offset: int, meta: dict[str, Any]
) -> Iterator[Quantity]:
    rate = number(entry.get("HR"))
    if rate:
        yield EMIT.quantity("heart_rate", t, t, offset, rate, "/min", meta=meta)


def _glucose(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    moment = _moment(entry, "MDate", where)
    value = number(entry.get("BG"))
    if isinstance(moment, str):
        yield Warning_(where, f"{moment}; skipped")
        return
    if not value:
        return
    t, offset = moment
    unit = "mmol/L" if document.get("BGUnit") == 1 else "mg/dL"
    meta = _meta(entry)
    for key, name in (("DinnerSituation", "meal"), ("DrugSituation", "medication")):
        if entry.get(key):
            meta[name] = entry[key]
    converted = units.convert(value, unit, "mmol/L")
    yield EMIT.quantity("blood_glucose", t, t, offset, converted, "mmol/L", meta=meta)


def _sleep(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    start, end = _moment(entry, "StartTime", where), _moment(entry, "EndTime", where)
    if isinstance(start, str) or isinstance(end, str) or end[0] < start[0]:
        yield Warning_(where, "a sleep entry without a valid start and end; skipped")
        return
    meta = _meta(entry)
    meta.update(
        minutes_asleep=number(entry.get("HoursSlept")),  # minutes, despite the name
        awakenings=number(entry.get("Awaken")),
        efficiency_percent=number(entry.get("SleepEfficiency")),
    )
    yield EMIT.category(
        "sleep_analysis", start[0], end[0], start[1], "HKCategoryValueSleepAnalysisInBed", meta=meta
    )


def _oxygen(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    moment = _moment(entry, "MDate", where)
    if isinstance(moment, str):
        yield Warning_(where, f"{moment}; skipped")
        return
    t, offset = moment
    meta = _meta(entry)
    saturation = number(entry.get("BO"))
    if saturation:
        yield EMIT.quantity("oxygen_saturation", t, t, offset, saturation, "%", meta=meta)
    yield from _heart_rate(entry, t, offset, meta)


def _sport(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    start = _moment(entry, "SportStartTime", where)
    end = _moment(entry, "SportEndTime", where)
    if isinstance(start, str) or isinstance(end, str) or end[0] < start[0]:
        yield Warning_(where, "a sport entry without a valid start and end; skipped")
        return
    calories = number(entry.get("Calories"))
    yield Workout(
        activity_type=str(entry.get("SportName") or "other"),
        start_ms=start[0],
        end_ms=end[0],
        start_offset_min=start[1],
        end_offset_min=end[1],
        source=SOURCE,
        duration_s=(end[0] - start[0]) / 1000,
        energy_kcal=calories or None,
        meta=_meta(entry),
    )


WEIGHT_UNITS = {0: "kg", 1: "[lb_av]", 2: "[stone_av]"}


def _weight(document: dict[str, Any], entry: dict[str, Any], where: str) -> Iterator[Item]:
    moment = _moment(entry, "MDate", where)
    if isinstance(moment, str):
        yield Warning_(where, f"{moment}; skipped")
        return
    t, offset = moment
    meta = _meta(entry)
    unit = WEIGHT_UNITS.get(document.get("WeightUnit", 0))
    if unit is None:
        yield Warning_(where, f"WeightUnit {document.get('WeightUnit')!r} is not 0, 1 or 2")
        return
    for type_code, key, written, canonical, known in (
        ("body_mass", "WeightValue", unit, "kg", True),
        ("body_mass_index", "BMI", "kg/m2", "kg/m2", True),
        ("body_fat_percentage", "FatValue", "%", "%", True),
        ("ihealth:water_percentage", "WaterValue", "%", "%", False),
        ("ihealth:bone_mass", "BoneValue", unit, "kg", False),
        ("ihealth:muscle_mass", "MuscaleValue", unit, "kg", False),
    ):
        value = number(entry.get(key))
        if value:
            if written != canonical:
                value = units.convert(value, written, canonical)
            yield EMIT.quantity(type_code, t, t, offset, value, canonical, known=known, meta=meta)


READERS = {
    "ARDataList": _activity,
    "BPDataList": _blood_pressure,
    "BGDataList": _glucose,
    "SRDataList": _sleep,
    "BODataList": _oxygen,
    "SPORTDataList": _sport,
    "WeightDataList": _weight,
}
