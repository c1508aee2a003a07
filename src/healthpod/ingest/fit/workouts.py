"""FIT sessions become workouts; FIT monitoring running totals become per-interval samples."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from healthpod.ingest.base import Item, Workout
from healthpod.ingest.fit.decode import FitFile, RecordRow
from healthpod.ingest.fit.device import FitContext

DAY_S = 86400

# Session fields kept as the workout's statistics: (FIT field, our type, unit)
SESSION_STATISTICS = (
    ("avg_heart_rate", "max_heart_rate", "heart_rate", "/min"),
    ("enhanced_avg_speed", "enhanced_max_speed", "speed", "m/s"),
    ("avg_cadence", "max_cadence", "cadence", "/min"),
    ("avg_power", "max_power", "power", "W"),
)

# Monitoring totals that count up per activity type through the day: (field, unit factor)
DISTANCE_TYPES = {
    "walking": "distance_walking_running",
    "running": "distance_walking_running",
    "cycling": "distance_cycling",
    "swimming": "distance_swimming",
}


def workouts(fit: FitFile, context: FitContext) -> Iterator[Item]:
    """One workout per session; a file with records but no session gets one from its records."""
    sessions = [s for s in fit.sessions if isinstance(s.get("start_time"), datetime)]
    if not sessions and fit.records:
        start, end = float(fit.records[0].t), float(fit.records[-1].t)
        session = {"sport": fit.sport or "generic"}
        yield _workout(fit, context, session, start, end, fit.records)
        return
    sessions.sort(key=lambda s: s["start_time"])
    starts = [s["start_time"].timestamp() for s in sessions]
    for n, session in enumerate(sessions):
        start = starts[n]
        ends = [start]
        elapsed, stamp = session.get("total_elapsed_time"), session.get("timestamp")
        if isinstance(elapsed, int | float):
            ends.append(start + float(elapsed))
        if isinstance(stamp, datetime):
            ends.append(stamp.timestamp())
        # Each record belongs to the session it follows: devices write a few after the end.
        after = starts[n + 1] if n + 1 < len(sessions) else float("inf")
        before = start if n > 0 else float("-inf")
        records = [r for r in fit.records if before <= r.t < after]
        yield _workout(fit, context, session, start, max(ends), records)


def _workout(
    fit: FitFile,
    context: FitContext,
    session: dict[str, Any],
    start: float,
    end: float,
    records: list[RecordRow],
) -> Workout:
    laps = [
        lap
        for lap in fit.laps
        if isinstance(lap.get("start_time"), datetime)
        and start <= lap["start_time"].timestamp() <= end
    ]
    distance = session.get("total_distance")
    energy = session.get("total_calories")
    timer = session.get("total_timer_time")
    meta: dict[str, Any] = {"sub_sport": str(session.get("sub_sport") or "generic")}
    if not fit.sessions:
        meta["made_from_records"] = True
    if fit.developer_fields:
        meta["developer_fields"] = dict(fit.developer_fields)
    if fit.lengths and session.get("pool_length") is not None:
        meta["pool_length_m"] = session.get("pool_length")
    return Workout(
        activity_type=str(session.get("sport") or fit.sport or "generic"),
        start_ms=round(start * 1000),
        end_ms=round(end * 1000),
        start_offset_min=context.offset_min,
        end_offset_min=context.offset_min,
        source=context.source,
        duration_s=float(timer) if isinstance(timer, int | float) else end - start,
        distance_km=float(distance) / 1000 if isinstance(distance, int | float) else None,
        energy_kcal=float(energy) if isinstance(energy, int | float) and energy > 0 else None,
        source_version=context.version,
        device=context.device,
        created_ms=context.created_ms,
        meta=meta,
        events=[_lap_event(lap) for lap in laps] or None,
        statistics=_statistics(session, records) or None,
        route=_route(records),
        original=_json_safe(session) if fit.sessions else None,
    )


def _lap_event(lap: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "lap", "start_ms": round(lap["start_time"].timestamp() * 1000)}
    for name, key in (
        ("total_elapsed_time", "elapsed_s"),
        ("total_timer_time", "duration_s"),
        ("total_distance", "distance_m"),
        ("total_calories", "energy_kcal"),
        ("avg_heart_rate", "avg_heart_rate"),
        ("max_heart_rate", "max_heart_rate"),
    ):
        value = lap.get(name)
        if isinstance(value, int | float):
            event[key] = value
    return event


def _statistics(session: dict[str, Any], records: list[RecordRow]) -> list[dict[str, Any]]:
    found = []
    for avg_name, max_name, type_code, unit in SESSION_STATISTICS:
        average = session.get(avg_name, session.get(avg_name.removeprefix("enhanced_")))
        maximum = session.get(max_name, session.get(max_name.removeprefix("enhanced_")))
        if not isinstance(average, int | float) or average <= 0:
            continue
        entry: dict[str, Any] = {"type": type_code, "unit": unit, "average": average}
        if isinstance(maximum, int | float):
            entry["maximum"] = maximum
        found.append(entry)
    if not any(s["type"] == "heart_rate" for s in found):
        rates = [r.heart_rate for r in records if r.heart_rate is not None]
        if rates:
            found.append(
                {
                    "type": "heart_rate",
                    "unit": "/min",
                    "average": round(sum(rates) / len(rates), 1),
                    "maximum": max(rates),
                    "minimum": min(rates),
                }
            )
    return found


def _route(records: list[RecordRow]) -> dict[str, Any] | None:
    points = [
        {
            "t_ms": r.t * 1000,
            "lat": round(r.lat, 7),
            "lon": round(r.lon, 7),
            **({"alt_m": round(r.altitude, 2)} if r.altitude is not None else {}),
            **({"distance_m": r.distance} if r.distance is not None else {}),
        }
        for r in records
        if r.lat is not None and r.lon is not None
    ]
    return {"format": "points", "points": points} if points else None


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """The session message as JSON: times as ISO strings, tuples as lists, no unknown fields."""
    safe: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("unknown_"):
            continue
        if isinstance(value, datetime):
            safe[key] = value.isoformat()
        elif isinstance(value, tuple):
            if any(v is not None for v in value):
                safe[key] = [v if isinstance(v, int | float | str) else None for v in value]
        elif isinstance(value, int | float | str | bool):
            safe[key] = value
        else:
            safe[key] = str(value)
    return safe


def monitoring_items(fit: FitFile, context: FitContext) -> Iterator[Item]:
    """Heart rate, stress, and per-interval steps, distance and energy from daily totals.

    The device keeps a running total per activity type that restarts at local midnight, and
    writes the day's final totals stamped exactly at the next midnight. A sample covers the
    time since the previous report of the same total that day (or since local midnight) and
    holds how much the total grew in it, so the samples of a day add up to its final total.
    """
    offset_s = context.offset_min * 60
    totals: dict[tuple[str, str | None], tuple[float, int, int]] = {}  # value, day, time
    previous_t: int | None = None
    for row in fit.monitoring:
        day = (row.t + offset_s - 1) // DAY_S  # a total stamped 00:00 closes the day before
        midnight = day * DAY_S - offset_s
        for field, value, type_code, unit, factor in (
            ("steps", row.steps, "steps", "{steps}", 1.0),
            ("distance", row.distance, DISTANCE_TYPES.get(row.activity_type or ""), "km", 1e-3),
            ("active_calories", row.active_calories, "active_energy", "kcal", 1.0),
        ):
            if value is None or type_code is None:
                continue
            key = (field, row.activity_type)
            before = totals.get(key)
            if before is not None and before[1] == day and value >= before[0]:
                grew, start = value - before[0], before[2]
            else:
                grew, start = value, midnight
            totals[key] = (value, day, row.t)
            if grew > 0:
                kind = {"fit_activity_type": row.activity_type}
                yield context.quantity(type_code, start, row.t, grew * factor, unit, meta=kind)
        if row.heart_rate is not None:
            yield context.quantity("heart_rate", row.t, row.t, row.heart_rate, "/min")
        intensity = (row.moderate_min or 0) + (row.vigorous_min or 0)
        if intensity > 0:
            start = previous_t if previous_t is not None and previous_t >= midnight else midnight
            split = {"moderate_min": row.moderate_min, "vigorous_min": row.vigorous_min}
            yield context.quantity("exercise_time", start, row.t, intensity, "min", meta=split)
        previous_t = row.t
    for t, level in fit.stress:
        yield context.quantity("fit:stress_level", t, t, float(level), "{score}", known=False)
