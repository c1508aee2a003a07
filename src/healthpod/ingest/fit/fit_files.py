"""Garmin/ANT FIT files: activities, daily monitoring, weight scales and beat-to-beat HRV.

`fit.decode` reads the bytes (CRC, chained files, compressed and 16-bit timestamps, developer
fields); this module turns each FIT file into our items:

- activity: one `Workout` per session (laps as events, the GPS track as its route), and per
  `record` a heart-rate sample plus speed, cadence and power samples, typed by the session's
  sport (`cycling_speed`, `running_power`, …; `fit:speed`/`fit:cadence`/`fit:power` for sports
  our vocabulary has no type for);
- monitoring: heart rate, and per-interval steps, distance and active energy made from the
  device's running totals (they count up per activity type and restart each local day),
  intensity minutes as exercise time, stress level (`fit:stress_level`);
- weight scale: weight, body fat, BMI and the other body-composition values;
- HRV: the SDNN of the file's beat-to-beat intervals, as one `hrv_sdnn` sample.

Times are UTC; the local offset is the file's `local_timestamp - timestamp` (from the activity or
monitoring_info message). A file without one is stored at offset 0 with a warning saying so.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.base import (
    ErrorHandling,
    Item,
    ProgressFn,
    SourceRef,
    Warning_,
)
from healthpod.ingest.fit.decode import FitFile, decode, sniff
from healthpod.ingest.fit.device import FitContext, describe_device, source_name
from healthpod.ingest.fit.workouts import monitoring_items, workouts

MAX_OFFSET_S = 14 * 3600

# weight_scale fields: (our type, unit, scale to the unit); unknown ones keep the FIT name
WEIGHT_FIELDS: dict[str, tuple[str, str, bool]] = {
    "weight": ("body_mass", "kg", True),
    "percent_fat": ("body_fat_percentage", "%", True),
    "bmi": ("body_mass_index", "kg/m2", True),
    "percent_hydration": ("fit:percent_hydration", "%", False),
    "visceral_fat_mass": ("fit:visceral_fat_mass", "kg", False),
    "bone_mass": ("fit:bone_mass", "kg", False),
    "muscle_mass": ("fit:muscle_mass", "kg", False),
    "basal_met": ("fit:basal_met", "kcal/d", False),
    "active_met": ("fit:active_met", "kcal/d", False),
    "metabolic_age": ("fit:metabolic_age", "a", False),
    "visceral_fat_rating": ("fit:visceral_fat_rating", "{score}", False),
    "physique_rating": ("fit:physique_rating", "{score}", False),
}


class FitImporter:
    """Reads .fit files (one, or several chained) from Garmin, Wahoo, COROS, Zwift and others."""

    format: ClassVar[str] = "fit"

    def sniff(self, head: bytes, filename: str) -> bool:
        return sniff(head)

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the items of every FIT file in the stream.

        Raises:
            MalformedFile: a damaged or cut-short file (names the byte offset), or, under
                `ErrorHandling.RAISE`, messages that cannot be placed in time.
        """
        records_had_heart_rate = False  # across a chain: a strap's `hr` file follows the records
        for fit in decode(fp, filename=filename, on_progress=on_progress, errors=errors):
            records_had_heart_rate |= any(r.heart_rate is not None for r in fit.records)
            yield from _items(fit, filename, errors, strap=not records_had_heart_rate)


IMPORTER = FitImporter()


def _items(fit: FitFile, filename: str, errors: ErrorHandling, *, strap: bool) -> Iterator[Item]:
    where = f"FIT file {fit.index + 1}, byte {fit.start_byte}"
    for location, message in fit.warnings:
        yield from _problem(errors, filename, location, f"fitdecode: {message}")
    if fit.relative_times:
        yield from _problem(
            errors,
            filename,
            where,
            f"{fit.relative_times} messages carry no date, only seconds since the device was "
            "switched on (its clock was not set); they were skipped",
        )
    offset_s, offset_note = _local_offset(fit)
    if offset_note and _has_data(fit):
        yield Warning_(where, offset_note)
    source = SourceRef(name=source_name(fit), kind="device")
    context = FitContext(
        source=source,
        device=describe_device(fit),
        version=fit.software,
        offset_min=offset_s // 60,
        created_ms=None if fit.created_s is None else fit.created_s * 1000,
    )
    yield from _record_samples(fit, context)
    if strap:
        yield from _strap_heart_rate(fit, context)
    yield from workouts(fit, context)
    yield from monitoring_items(fit, context)
    yield from _weight_samples(fit, context, where)
    yield from _hrv_sample(fit, context)


def _problem(errors: ErrorHandling, filename: str, location: str, message: str) -> Iterator[Item]:
    if errors is ErrorHandling.RAISE:
        raise MalformedFile(message, source=filename, location=location)
    if errors is ErrorHandling.WARN:
        yield Warning_(location, message)


def _has_data(fit: FitFile) -> bool:
    return bool(fit.records or fit.sessions or fit.monitoring or fit.weights or fit.stress)


def _local_offset(fit: FitFile) -> tuple[int, str | None]:
    """The local offset in seconds (whole quarter hours), and a note when it is not known."""
    for raw in fit.local_offsets_s:
        quarter = round(raw / 900) * 900
        if abs(quarter) <= MAX_OFFSET_S:
            return quarter, None
    if fit.local_offsets_s:
        return 0, "the file's local time is not plausible; times are stored with offset +00:00"
    return 0, "the file does not say its local time; times are stored with offset +00:00"


# sport → our types for (speed, cadence, power); speed in the type's unit from m/s
RECORD_TYPES: dict[str, tuple[tuple[str, str, float], tuple[str, str], tuple[str, str]]] = {
    "cycling": (
        ("cycling_speed", "km/h", 3.6),
        ("cycling_cadence", "/min"),
        ("cycling_power", "W"),
    ),
    "running": (("running_speed", "m/s", 1.0), ("fit:cadence", "/min"), ("running_power", "W")),
    "walking": (("walking_speed", "km/h", 3.6), ("fit:cadence", "/min"), ("fit:power", "W")),
}
OTHER_SPORT = (("fit:speed", "m/s", 1.0), ("fit:cadence", "/min"), ("fit:power", "W"))


def _sports(fit: FitFile) -> tuple[list[float], list[str]]:
    """Session start times and their sports, for finding the sport of a record."""
    sessions = sorted(
        (s["start_time"].timestamp(), str(s.get("sport") or fit.sport or "generic"))
        for s in fit.sessions
        if hasattr(s.get("start_time"), "timestamp")
    )
    return [start for start, _ in sessions], [sport for _, sport in sessions]


def _record_samples(fit: FitFile, context: FitContext) -> Iterator[Item]:
    starts, sports = _sports(fit)
    previous = None
    for row in fit.records:
        t = row.t
        if t == previous:
            continue  # a second record in the same second (seen on Edge 500): the first counts
        previous = t
        index = max(bisect.bisect_right(starts, t) - 1, 0)
        sport = sports[index] if sports else (fit.sport or "generic")
        (speed_type, speed_unit, factor), cadence, power = RECORD_TYPES.get(sport, OTHER_SPORT)
        if row.heart_rate is not None:
            yield context.quantity("heart_rate", t, t, row.heart_rate, "/min")
        for (type_code, unit), value in (
            ((speed_type, speed_unit), None if row.speed is None else row.speed * factor),
            (cadence, row.cadence),
            (power, row.power),
        ):
            if value is not None:
                known = not type_code.startswith("fit:")
                yield context.quantity(type_code, t, t, value, unit, known=known)


def _strap_heart_rate(fit: FitFile, context: FitContext) -> Iterator[Item]:
    """Heart rate of `hr` messages (a strap's memory, sent after a swim), used only when no
    record of the file (or of an earlier file of its chain) has heart rate: otherwise the same
    beats would be stored twice."""
    seen: set[int] = set()
    for t, bpm in fit.hr_beats:
        ms = round(t * 1000)
        if ms not in seen:
            seen.add(ms)
            yield context.quantity("heart_rate", t, t, bpm, "/min", meta={"fit_message": "hr"})


def _weight_samples(fit: FitFile, context: FitContext, where: str) -> Iterator[Item]:
    users = {u for w in fit.weights if isinstance(u := w.get("user_profile_index"), int)}
    if len(users) > 1:
        yield Warning_(
            where,
            f"the scale holds readings of {len(users)} people (user profiles "
            f"{', '.join(str(u) for u in sorted(users))}); all were imported, each marked with "
            "its user profile",
        )
    for reading in fit.weights:
        t = reading["timestamp"].timestamp()
        meta = None
        if reading.get("user_profile_index") is not None:
            meta = {"fit_user_profile_index": reading["user_profile_index"]}
        for name, (type_code, unit, known) in WEIGHT_FIELDS.items():
            value = reading.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                if name == "weight" and value >= 655.34:  # 0xFFFE: the scale is still measuring
                    continue
                yield context.quantity(type_code, t, t, float(value), unit, known=known, meta=meta)


def _hrv_sample(fit: FitFile, context: FitContext) -> Iterator[Item]:
    beats = fit.rr_intervals_s
    if len(beats) < 2 or not fit.records:
        return
    sdnn_ms = statistics.stdev(beats) * 1000
    yield context.quantity(
        "hrv_sdnn",
        fit.records[0].t,
        fit.records[-1].t,
        round(sdnn_ms, 3),
        "ms",
        meta={"method": "SDNN of the FIT file's beat-to-beat intervals", "beats": len(beats)},
    )
