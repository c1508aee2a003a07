"""A realistic, seeded year of one person's Apple Health export, written by our own code.

`write_export(path, end=…)` writes an `export.xml` as the Health app does (records, blood-pressure
correlations, workouts, activity summaries, the person's characteristics) for the 365 days
before `end`, in Europe/Stockholm time (so daylight-saving changes are in it). The demo imports
it with the ordinary Apple Health importer, so the demo pod is filled the way a person's is.

The person: a 40-year-old who walks most days, runs or cycles two to three times a week, sleeps
about seven hours with the usual stages, weighs a little less by the end of the year, has
high-normal home blood pressure, and whose resting heart rate rose over the last three days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Europe/Stockholm")
PHONE = "Anna\u2019s iPhone"
WATCH = "Anna\u2019s Apple\u00a0Watch"
SCALE = "Withings"
CUFF = "Omron connect"
DAYS = 365
SEED = 20260101

_WATCH_DEVICE = (
    "<<HKDevice: 0x283a1c0a0>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, "
    "hardware:Watch6,2, software:10.2>"
)


def write_export(path: Path, *, end: datetime, days: int = DAYS, seed: int = SEED) -> int:
    """Write the export for the `days` days before `end`; returns the number of records."""
    rng = random.Random(seed)  # noqa: S311 (reproducible sample data, not security)
    end_local = end.astimezone(ZONE)
    end = end.astimezone(UTC)
    first_day = end_local.date() - timedelta(days=days - 1)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="sv_SE">\n')
        out.write(f" <ExportDate value={quoteattr(_stamp(end_local))}/>\n")
        out.write(
            ' <Me HKCharacteristicTypeIdentifierDateOfBirth="1986-04-12"'
            ' HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"'
            ' HKCharacteristicTypeIdentifierBloodType="HKBloodTypeAPositive"'
            ' HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"/>\n'
        )
        for index in range(days):
            day = first_day + timedelta(days=index)
            for line in _day(rng, day, index, days, end_local):
                out.write(line)
                count += 1
        out.write("</HealthData>\n")
    return count


def _stamp(moment: datetime) -> str:
    """Apple's date format: local time with its offset, e.g. `2026-03-29 07:30:00 +0200`."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S %z")


def _at(day: date, hour: float) -> datetime:
    whole = int(hour)
    minutes = round((hour - whole) * 60)
    # Local wall time, then UTC: later arithmetic is in real minutes, also on DST days.
    local = datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(
        hours=whole, minutes=minutes
    )
    return local.astimezone(UTC)


def _record(
    kind: str,
    source: str,
    start: datetime,
    end: datetime,
    value: str,
    unit: str | None,
    *,
    device: bool = False,
) -> str:
    attributes = [
        f"type={quoteattr(kind)}",
        f"sourceName={quoteattr(source)}",
        'sourceVersion="10.2"',
    ]
    if device:
        attributes.append(f"device={quoteattr(_WATCH_DEVICE)}")
    if unit is not None:
        attributes.append(f"unit={quoteattr(unit)}")
    attributes += [
        f"creationDate={quoteattr(_stamp(end))}",
        f"startDate={quoteattr(_stamp(start))}",
        f"endDate={quoteattr(_stamp(end))}",
        f"value={quoteattr(value)}",
    ]
    return " <Record " + " ".join(attributes) + "/>\n"


def _day(rng: random.Random, day: date, index: int, days: int, end: datetime) -> Iterator[str]:
    """Every record of one day that lies before `end`."""
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365)  # +1 in July
    weekend = day.weekday() >= 5
    lines: list[tuple[datetime, str]] = []

    def add(start: datetime, line: str) -> None:
        if start < end:
            lines.append((start, line))

    # Sleep the night before: in bed about 23:00, stages until about 06:45.
    bed = _at(day - timedelta(days=1), 22.8 + rng.uniform(-0.4, 0.6) + (0.5 if weekend else 0))
    wake = _at(day, 6.6 + rng.uniform(-0.3, 0.5) + (1.0 if weekend else 0))
    add(bed, _sleep(bed, wake, "HKCategoryValueSleepAnalysisInBed"))
    moment = bed + timedelta(minutes=rng.randint(8, 20))
    cycle = ["AsleepCore", "AsleepDeep", "AsleepCore", "AsleepREM"]
    while moment < wake - timedelta(minutes=20):
        for stage in cycle:
            length = {"AsleepCore": 30, "AsleepDeep": 20, "AsleepREM": 22}[stage]
            stop = min(moment + timedelta(minutes=length + rng.randint(-6, 8)), wake)
            add(moment, _sleep(moment, stop, "HKCategoryValueSleepAnalysis" + stage))
            moment = stop
            if moment >= wake:
                break
        if moment < wake and rng.random() < 0.5:
            stop = min(moment + timedelta(minutes=rng.randint(2, 6)), wake)
            add(moment, _sleep(moment, stop, "HKCategoryValueSleepAnalysisAwake"))
            moment = stop

    # Steps: the phone counts every waking hour; the watch counts the same walking (overlap).
    active_day = rng.random() < 0.85
    for hour in range(7, 22):
        base = 380 if active_day else 160
        walk = max(0, int(rng.gauss(base + 120 * season, 140)))
        if hour in (8, 12, 17):
            walk += rng.randint(600, 1400)
        if walk == 0:
            continue
        start = _at(day, hour + rng.uniform(0, 0.2))
        stop = start + timedelta(minutes=rng.randint(20, 45))
        add(
            start,
            _record("HKQuantityTypeIdentifierStepCount", PHONE, start, stop, str(walk), "count"),
        )
        watch_steps = max(0, int(walk * rng.uniform(0.9, 1.05)))
        add(
            start,
            _record(
                "HKQuantityTypeIdentifierStepCount",
                WATCH,
                start,
                stop,
                str(watch_steps),
                "count",
                device=True,
            ),
        )

    # Heart rate from the watch every 20 minutes while awake; resting HR and HRV once a day.
    late_rise = 7 if index >= days - 3 else 0  # the last three days run warm
    resting = 58 + 1.5 * math.sin(index / 9) + late_rise + rng.gauss(0, 1.2)
    for step in range(7 * 3, 23 * 3):
        start = _at(day, step / 3 + rng.uniform(0, 0.05))
        bpm = resting + 14 + 10 * rng.random() + (25 if step in (17 * 3, 17 * 3 + 1) else 0)
        add(
            start,
            _record(
                "HKQuantityTypeIdentifierHeartRate",
                WATCH,
                start,
                start,
                f"{bpm:.0f}",
                "count/min",
                device=True,
            ),
        )
    rest_at = _at(day, 21.5)
    add(
        rest_at,
        _record(
            "HKQuantityTypeIdentifierRestingHeartRate",
            WATCH,
            _at(day, 0.1),
            rest_at,
            f"{resting:.0f}",
            "count/min",
        ),
    )
    hrv_at = wake - timedelta(minutes=30)
    hrv = 52 - 1.5 * late_rise + 6 * math.sin(index / 13) + rng.gauss(0, 5)
    add(
        hrv_at,
        _record(
            "HKQuantityTypeIdentifierHeartRateVariabilitySDNN",
            WATCH,
            hrv_at,
            hrv_at + timedelta(minutes=1),
            f"{max(hrv, 15):.1f}",
            "ms",
            device=True,
        ),
    )

    # Weight three mornings a week, drifting from 72.5 to about 70.5 kg.
    if day.weekday() in (0, 3, 5):
        at = _at(day, 7.2 + rng.uniform(0, 0.3))
        kg = 72.5 - 2.0 * index / days + rng.gauss(0, 0.25)
        add(at, _record("HKQuantityTypeIdentifierBodyMass", SCALE, at, at, f"{kg:.1f}", "kg"))

    # Home blood pressure four evenings a week: high-normal on average.
    if day.weekday() in (0, 2, 4, 6):
        at = _at(day, 20.5 + rng.uniform(0, 0.5))
        add(at, _blood_pressure(at, 131 + rng.gauss(0, 5), 84 + rng.gauss(0, 3.5)))

    # Workouts: a run on Tuesdays and Saturdays, a bike ride on Thursdays (most weeks).
    kind = {1: "Running", 5: "Running", 3: "Cycling"}.get(day.weekday())
    if kind is not None and rng.random() < 0.85:
        start = _at(day, (9.5 if weekend else 18.0) + rng.uniform(0, 0.5))
        minutes = rng.uniform(28, 45) if kind == "Running" else rng.uniform(45, 75)
        km = minutes / (5.8 if kind == "Running" else 2.6) + rng.uniform(-0.3, 0.3)
        stop = start + timedelta(minutes=minutes)
        add(start, _workout(kind, start, stop, minutes, km, minutes * 10.5))
        add(
            start,
            _record(
                "HKQuantityTypeIdentifierAppleExerciseTime",
                WATCH,
                start,
                stop,
                f"{minutes:.0f}",
                "min",
            ),
        )
    brisk = rng.randint(8, 25) if active_day else rng.randint(0, 6)
    if brisk:
        start = _at(day, 12.2)
        add(
            start,
            _record(
                "HKQuantityTypeIdentifierAppleExerciseTime",
                WATCH,
                start,
                start + timedelta(minutes=brisk),
                str(brisk),
                "min",
            ),
        )

    if _at(day + timedelta(days=1), 0) <= end:
        exercise = brisk + (40 if kind else 0)
        add(
            _at(day, 23.9),
            f' <ActivitySummary dateComponents="{day.isoformat()}" activeEnergyBurned='
            f'"{300 + 9 * exercise + rng.uniform(-40, 40):.1f}" activeEnergyBurnedGoal="450"'
            f' activeEnergyBurnedUnit="kcal" appleMoveTime="0" appleMoveTimeGoal="0"'
            f' appleExerciseTime="{exercise}" appleExerciseTimeGoal="30"'
            f' appleStandHours="{rng.randint(8, 13)}" appleStandHoursGoal="12"/>\n',
        )

    lines.sort(key=lambda pair: pair[0])
    yield from (line for _, line in lines)


def _sleep(start: datetime, end: datetime, value: str) -> str:
    return _record(
        "HKCategoryTypeIdentifierSleepAnalysis", WATCH, start, end, value, None, device=True
    )


def _blood_pressure(at: datetime, systolic: float, diastolic: float) -> str:
    stamps = (
        f'sourceName={quoteattr(CUFF)} sourceVersion="2.4" creationDate={quoteattr(_stamp(at))}'
        f" startDate={quoteattr(_stamp(at))} endDate={quoteattr(_stamp(at))}"
    )
    return (
        f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" {stamps}>\n'
        f'  <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" {stamps}'
        f' unit="mmHg" value="{systolic:.0f}"/>\n'
        f'  <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" {stamps}'
        f' unit="mmHg" value="{diastolic:.0f}"/>\n'
        " </Correlation>\n"
    )


def _workout(
    kind: str, start: datetime, end: datetime, minutes: float, km: float, kcal: float
) -> str:
    return (
        f' <Workout workoutActivityType="HKWorkoutActivityType{kind}" duration="{minutes:.2f}"'
        f' durationUnit="min" totalDistance="{km:.2f}" totalDistanceUnit="km"'
        f' totalEnergyBurned="{kcal:.0f}" totalEnergyBurnedUnit="kcal"'
        f' sourceName={quoteattr(WATCH)} sourceVersion="10.2"'
        f" creationDate={quoteattr(_stamp(end))} startDate={quoteattr(_stamp(start))}"
        f" endDate={quoteattr(_stamp(end))}>\n"
        '  <MetadataEntry key="HKTimeZone" value="Europe/Stockholm"/>\n'
        " </Workout>\n"
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
