"""Google Fit REST v1 dataset payloads (`dataSourceId` plus `point`s).

Times are nanosecond epoch *strings*; values are `fpVal` or `intVal`. Google Fit keeps no local
offset, so samples are stored at offset 0 with a warning. The app that wrote each point
(`originDataSourceId`, e.g. com.nike.plusgps) is kept in the sample's meta.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from healthpod.ingest import zones
from healthpod.ingest.base import Item, SourceRef, Warning_, Workout
from healthpod.ingest.vendors.common import Emitter, number
from healthpod.ingest.zones import offset_min_at as off

SOURCE = SourceRef(name="Google Fit", kind="app")
EMIT = Emitter(SOURCE)
NO_ZONE = (
    "Google Fit keeps no local time offset; times are stored with offset +00:00 "
    f"({zones.HOW_TO_SAY})"
)

# data type → (our type, unit, factor, known)
QUANTITIES: dict[str, tuple[str, str, float, bool]] = {
    "com.google.step_count.delta": ("steps", "{steps}", 1.0, True),
    "com.google.weight": ("body_mass", "kg", 1.0, True),
    "com.google.height": ("body_height", "cm", 100.0, True),
    "com.google.heart_rate.bpm": ("heart_rate", "/min", 1.0, True),
    "com.google.distance.delta": ("distance_walking_running", "km", 0.001, True),
    "com.google.speed": ("googlefit:speed", "m/s", 1.0, False),
    "com.google.body.fat.percentage": ("body_fat_percentage", "%", 1.0, True),
}
# activity segment codes (Google Fit's activity types) that are sleep or no activity at all
SLEEP = {
    72: "HKCategoryValueSleepAnalysisAsleepUnspecified",
    109: "HKCategoryValueSleepAnalysisAsleepCore",
    110: "HKCategoryValueSleepAnalysisAsleepDeep",
    111: "HKCategoryValueSleepAnalysisAsleepREM",
    112: "HKCategoryValueSleepAnalysisAwake",
}
NOT_ACTIVITY = {0: "in_vehicle", 3: "still", 4: "unknown", 5: "tilting"}
ACTIVITIES = {
    1: "cycling",
    7: "walking",
    8: "running",
    9: "aerobics",
    10: "badminton",
    24: "dancing",
    35: "hiking",
    80: "strength_training",
    82: "swimming_pool",
    100: "yoga",
}


def claims(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and "dataSourceId" in document
        and ("point" in document or "minStartTimeNs" in document)
    )


def read(document: dict[str, Any]) -> Iterator[Item]:
    points = document.get("point") or []
    if not isinstance(points, list):
        yield Warning_("point", "`point` is not a list; nothing imported")
        return
    if points and zones.assumed() is None:
        yield Warning_("point", NO_ZONE)
    skipped: dict[str, int] = {}
    for n, point in enumerate(points):
        where = f"point[{n}]"
        data_type = point.get("dataTypeName") if isinstance(point, dict) else None
        start, end = _ms(point, "startTimeNanos"), _ms(point, "endTimeNanos")
        values = point.get("value") if isinstance(point, dict) else None
        if not isinstance(data_type, str) or start is None or end is None or not values:
            yield Warning_(where, "a point without type, times or value; skipped")
            continue
        first = values[0] if isinstance(values[0], dict) else {}
        value = number(first.get("fpVal", first.get("intVal")))
        meta = {"origin": point.get("originDataSourceId")}
        if value is None:
            yield Warning_(where, "a point without fpVal or intVal; skipped")
        elif data_type in QUANTITIES:
            type_code, unit, factor, known = QUANTITIES[data_type]
            if value or type_code not in ("steps",):
                yield EMIT.quantity(
                    type_code, start, end, off(start), value * factor, unit, known=known, meta=meta
                )
        elif data_type == "com.google.calories.expended":
            # Google's merged stream mixes resting energy (from_bmr) with active energy.
            basal = "from_bmr" in str(meta["origin"])
            type_code = "basal_energy" if basal else "active_energy"
            yield EMIT.quantity(type_code, start, end, off(start), value, "kcal", meta=meta)
        elif data_type == "com.google.activity.segment":
            yield from _segment(int(value), start, end, meta)
        else:
            skipped[data_type] = skipped.get(data_type, 0) + 1
    for data_type, count in skipped.items():
        yield Warning_("point", f"{count} point(s) of {data_type} are not imported")


def _ms(point: Any, key: str) -> int | None:
    if not isinstance(point, dict):
        return None
    nanos = point.get(key)
    if isinstance(nanos, str) and nanos.isdigit():
        return int(nanos) // 1_000_000
    if isinstance(nanos, int) and not isinstance(nanos, bool):
        return nanos // 1_000_000
    return None


def _segment(code: int, start: int, end: int, meta: dict[str, Any]) -> Iterator[Item]:
    if code in SLEEP:
        yield EMIT.category("sleep_analysis", start, end, off(start), SLEEP[code], meta=meta)
    elif code not in NOT_ACTIVITY:
        yield Workout(
            activity_type=ACTIVITIES.get(code, f"googlefit:{code}"),
            start_ms=start,
            end_ms=end,
            start_offset_min=off(start),
            end_offset_min=off(end),
            source=SOURCE,
            duration_s=(end - start) / 1000,
            meta={**meta, "googlefit_activity": code},
        )
