#!/usr/bin/env python3
"""Deterministic, streaming generator of a realistic Apple Health export (export.zip).

Usage:
    python gen_apple_export.py --records 1000000 --out $SCRATCH/ah/1m/export.zip
    python gen_apple_export.py --records 100000 --out export.xml          # plain export.xml, no zip
    python gen_apple_export.py --records 5000000 --out export.zip --also-xml export.xml --routes
    python gen_apple_export.py --records 1000 --out tiny.zip --seed 7 --years 0.2 --stats

What it writes (the layout of the Health app's "Export All Health Data"):
    export.zip
      apple_health_export/export.xml        <HealthData> with the HealthKit export DTD (version 14)
      apple_health_export/export_cda.xml    a small, empty CDA document
      apple_health_export/workout-routes/route_*.gpx   only with --routes

export.xml holds, in the order a real export has them:
    <ExportDate>, <Me>, then all <Record>s grouped by type (each group in time order), then
    <Correlation>s (blood pressure; their two child <Record>s ALSO appear as top-level records, as in a real
    export), then <Workout>s (<MetadataEntry>, <WorkoutEvent>, <WorkoutStatistics>, <WorkoutRoute>), then one
    <ActivitySummary> per day.

Realism: an iPhone and an Apple Watch whose step / distance / flights samples overlap (the classic
double-counting trap), heart rate is the largest type (with HKMetadataKeyHeartRateMotionContext metadata,
denser during workouts), active/basal energy, walking metrics, audio exposure, respiratory rate and SpO2 at
night, HRV SDNN with <HeartRateVariabilityMetadataList>/<InstantaneousBeatsPerMinute>, sleep stages
(category values as strings, HKTimeZone metadata), stand hours, body mass from a scale app and typed in by
hand, VO2max, mindful sessions. Dates are local time with the offset of that day, e.g.
"2019-06-01 07:30:12 +0200" (DST changes, and ~2% of days spent travelling in another time zone).
Device strings are the escaped "&lt;&lt;HKDevice: 0x...&gt;, name:Apple Watch, ...&gt;" form; software
versions follow the calendar.

--records N is the exact number of TOP-LEVEL <Record> elements (Correlation children come on top:
2 per blood-pressure reading; the generator prints the totals with --stats). The time span defaults to
N / 250,000 years (clamped to 1..10 years), ending on --end (default 2026-06-30), so 100k records ~ 1 year of
light use, 1M ~ 4 years, 5M ~ 10 years of a heavy Apple Watch user (~1,400 records/day).

Streaming and constant memory: every type is produced by its own seeded generator walking forward in time;
anything needed twice (workout schedule, blood-pressure readings) is recomputed from the seed, never stored.
The output is built in ~2 MB chunks and compressed by a writer thread (zlib releases the GIL), so the
generator uses ~2 cores. Same arguments -> byte-identical export.xml.
"""

from __future__ import annotations

import argparse
import os as _os

SCRATCH = _os.environ.get("SCRATCH", ".")
import datetime as _dt
import math
import queue
import random
import sys
import threading
import time
import zipfile
from zoneinfo import ZoneInfo

ENC = "utf-8"
OWNER = "Alex"
WATCH = f"{OWNER}\u2019s Apple Watch"  # the typographic apostrophe, as real exports have it
PHONE = f"{OWNER}\u2019s iPhone"
HOME_TZ = "Europe/Berlin"
TRAVEL_TZ = "America/New_York"
LOCALE = "en_DE"

P = "HKQuantityTypeIdentifier"
C = "HKCategoryTypeIdentifier"

DTD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 14 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord|Audiogram|VisionPrescription)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Me EMPTY>
<!ATTLIST Me
  HKCharacteristicTypeIdentifierDateOfBirth                 CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBiologicalSex               CDATA #REQUIRED
  HKCharacteristicTypeIdentifierBloodType                   CDATA #REQUIRED
  HKCharacteristicTypeIdentifierFitzpatrickSkinType         CDATA #REQUIRED
  HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!-- Note: Any Records that appear as children of a correlation also appear as top-level records in this document. -->
<!ELEMENT Correlation ((MetadataEntry|Record)*)>
<!ATTLIST Correlation
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>
<!ATTLIST Workout
  workoutActivityType   CDATA #REQUIRED
  duration              CDATA #IMPLIED
  durationUnit          CDATA #IMPLIED
  totalDistance         CDATA #IMPLIED
  totalDistanceUnit     CDATA #IMPLIED
  totalEnergyBurned     CDATA #IMPLIED
  totalEnergyBurnedUnit CDATA #IMPLIED
  sourceName            CDATA #REQUIRED
  sourceVersion         CDATA #IMPLIED
  device                CDATA #IMPLIED
  creationDate          CDATA #IMPLIED
  startDate             CDATA #REQUIRED
  endDate               CDATA #REQUIRED
>
<!ELEMENT WorkoutActivity ((WorkoutEvent|WorkoutStatistics|MetadataEntry)*)>
<!ATTLIST WorkoutActivity
  uuid         CDATA #REQUIRED
  startDate    CDATA #REQUIRED
  endDate      CDATA #IMPLIED
  duration     CDATA #IMPLIED
  durationUnit CDATA #IMPLIED
>
<!ELEMENT WorkoutEvent ((MetadataEntry)*)>
<!ATTLIST WorkoutEvent
  type         CDATA #REQUIRED
  date         CDATA #REQUIRED
  duration     CDATA #IMPLIED
  durationUnit CDATA #IMPLIED
>
<!ELEMENT WorkoutStatistics EMPTY>
<!ATTLIST WorkoutStatistics
  type      CDATA #REQUIRED
  startDate CDATA #REQUIRED
  endDate   CDATA #REQUIRED
  average   CDATA #IMPLIED
  minimum   CDATA #IMPLIED
  maximum   CDATA #IMPLIED
  sum       CDATA #IMPLIED
  unit      CDATA #IMPLIED
>
<!ELEMENT WorkoutRoute ((MetadataEntry|FileReference)*)>
<!ATTLIST WorkoutRoute
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT FileReference EMPTY>
<!ATTLIST FileReference
  path CDATA #REQUIRED
>
<!ELEMENT ActivitySummary EMPTY>
<!ATTLIST ActivitySummary
  dateComponents           CDATA #IMPLIED
  activeEnergyBurned       CDATA #IMPLIED
  activeEnergyBurnedGoal   CDATA #IMPLIED
  activeEnergyBurnedUnit   CDATA #IMPLIED
  appleMoveTime            CDATA #IMPLIED
  appleMoveTimeGoal        CDATA #IMPLIED
  appleExerciseTime        CDATA #IMPLIED
  appleExerciseTimeGoal    CDATA #IMPLIED
  appleStandHours          CDATA #IMPLIED
  appleStandHoursGoal      CDATA #IMPLIED
>
<!ELEMENT MetadataEntry EMPTY>
<!ATTLIST MetadataEntry
  key   CDATA #REQUIRED
  value CDATA #REQUIRED
>
<!-- HeartRateVariabilityMetadataList contains a record's IBIs (inter-beat intervals) as instantaneous beats per minute. -->
<!ELEMENT HeartRateVariabilityMetadataList (InstantaneousBeatsPerMinute*)>
<!ELEMENT InstantaneousBeatsPerMinute EMPTY>
<!ATTLIST InstantaneousBeatsPerMinute
  bpm  CDATA #REQUIRED
  time CDATA #REQUIRED
>
<!ELEMENT ClinicalRecord EMPTY>
<!ATTLIST ClinicalRecord
  type              CDATA #REQUIRED
  identifier        CDATA #REQUIRED
  sourceName        CDATA #REQUIRED
  sourceURL         CDATA #REQUIRED
  fhirVersion       CDATA #REQUIRED
  receivedDate      CDATA #REQUIRED
  resourceFilePath  CDATA #REQUIRED
>
<!ELEMENT Audiogram ((SensitivityPoint)*)>
<!ATTLIST Audiogram
  type          CDATA #REQUIRED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT SensitivityPoint EMPTY>
<!ATTLIST SensitivityPoint
  frequencyValue   CDATA #REQUIRED
  frequencyUnit    CDATA #REQUIRED
  leftEarValue     CDATA #IMPLIED
  leftEarUnit      CDATA #IMPLIED
  rightEarValue    CDATA #IMPLIED
  rightEarUnit     CDATA #IMPLIED
>
<!ELEMENT VisionPrescription EMPTY>
<!ATTLIST VisionPrescription
  type             CDATA #REQUIRED
  dateIssued       CDATA #REQUIRED
  expirationDate   CDATA #IMPLIED
  brand            CDATA #IMPLIED
>
]>
"""

CDA = """<?xml version="1.0"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <realmCode code="US"/>
 <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <title>Health Data Export</title>
 <component><structuredBody/></component>
</ClinicalDocument>
"""

# --------------------------------------------------------------------------------------------------------------
# Record types.  "dense" types share what is left of --records after the fixed-rate ones, by weight.
# (name, unit, sources, window start hour, window length hours, extra)
#   sources: "W" watch, "P" phone, "PW" phone+watch overlapping pairs
DENSE = [
    # type                                   unit         src   w0  wlen  weight
    (P + "StepCount", "count", "PW", 7, 15, 0.090),
    (P + "DistanceWalkingRunning", "km", "PW", 7, 15, 0.100),
    (P + "ActiveEnergyBurned", "kcal", "W", 6, 17, 0.200),
    (P + "FlightsClimbed", "count", "PW", 7, 15, 0.008),
    (P + "HeartRate", "count/min", "W", 0, 24, 0.360),
    (P + "BasalEnergyBurned", "kcal", "W", 0, 24, 0.140),
    (P + "AppleExerciseTime", "min", "W", 7, 15, 0.015),
    (P + "EnvironmentalAudioExposure", "dBASPL", "W", 7, 16, 0.020),
    (P + "HeadphoneAudioExposure", "dBASPL", "P", 7, 16, 0.008),
    (P + "WalkingDoubleSupportPercentage", "%", "P", 7, 15, 0.004),
    (P + "AppleStandTime", "min", "W", 7, 15, 0.020),
    (P + "WalkingSpeed", "km/hr", "P", 7, 15, 0.006),
    (P + "WalkingStepLength", "cm", "P", 7, 15, 0.006),
    (P + "WalkingAsymmetryPercentage", "%", "P", 7, 15, 0.002),
    (P + "RespiratoryRate", "count/min", "W", 23, 8, 0.020),
    (P + "OxygenSaturation", "%", "W", 23, 8, 0.003),
]
# fixed-rate types: per-day rate (or exact per-day count for the "daily" ones)
FIXED = [
    (P + "BodyMass", 0.40),
    (P + "RestingHeartRate", 1.0),
    (P + "VO2Max", 0.25),
    (P + "WalkingHeartRateAverage", 1.0),
    (P + "BloodPressureDiastolic", 0.15),
    (P + "BloodPressureSystolic", 0.15),
    (P + "HeartRateVariabilitySDNN", 5.0),
    (C + "SleepAnalysis", 13.0),  # 1 InBed (iPhone) + 12 stages (Watch) per night
    (C + "AppleStandHour", 14.0),  # hours 8..21
    (C + "MindfulSession", 0.20),
]
FIXED_RATE = dict(FIXED)
BP_RATE = 0.15
SLEEP_STAGES_PER_NIGHT = 12
STAND_HOURS = list(range(8, 22))
# the order the type groups appear in the file (roughly "order first seen", like a real export)
ORDER = [
    P + "StepCount",
    P + "DistanceWalkingRunning",
    P + "BodyMass",
    P + "ActiveEnergyBurned",
    P + "FlightsClimbed",
    P + "HeartRate",
    P + "BasalEnergyBurned",
    P + "AppleExerciseTime",
    P + "RestingHeartRate",
    P + "VO2Max",
    P + "WalkingHeartRateAverage",
    P + "EnvironmentalAudioExposure",
    P + "HeadphoneAudioExposure",
    P + "WalkingDoubleSupportPercentage",
    P + "BloodPressureDiastolic",
    P + "BloodPressureSystolic",
    P + "AppleStandTime",
    P + "WalkingSpeed",
    P + "WalkingStepLength",
    P + "WalkingAsymmetryPercentage",
    P + "RespiratoryRate",
    P + "OxygenSaturation",
    P + "HeartRateVariabilitySDNN",
    C + "SleepAnalysis",
    C + "AppleStandHour",
    C + "MindfulSession",
]

WORKOUT_KINDS = [  # (activity type, weight, outdoor, distance type, kcal/min, speed km/min)
    ("Running", 0.33, True, "DistanceWalkingRunning", 11.0, 0.175),
    ("Walking", 0.25, True, "DistanceWalkingRunning", 5.0, 0.090),
    ("Cycling", 0.14, True, "DistanceCycling", 9.5, 0.400),
    ("TraditionalStrengthTraining", 0.16, False, None, 6.5, 0.0),
    ("Swimming", 0.05, False, "DistanceSwimming", 9.0, 0.040),
    ("Yoga", 0.07, False, None, 3.5, 0.0),
]
WORKOUT_P = 0.55


def _seed(seed: int, salt: int, n: int = 0) -> int:
    return (seed * 1_000_003 + salt * 7919) * 1_000_033 + n


class Clock:
    """Local time as seconds since local midnight of day 0; per-day date prefix and UTC-offset suffix."""

    def __init__(self, first: _dt.date, days: int, seed: int):
        home, away = ZoneInfo(HOME_TZ), ZoneInfo(TRAVEL_TZ)
        rnd = random.Random(_seed(seed, 1))
        self.days = days
        self.first = first
        n = days + 3  # a little slack past the end (creationDate, workouts that end after midnight)
        self.day = []  # "2019-06-01 "
        self.off = []  # " +0200"
        self.tz = []  # tz name of that day
        self.year = []
        self.month = []
        travel_left = 0
        for d in range(n):
            day = first + _dt.timedelta(days=d)
            if travel_left == 0 and rnd.random() < 0.003:  # a trip of 4..10 days, ~1 a year
                travel_left = rnd.randint(4, 10)
            tz = away if travel_left else home
            travel_left = max(0, travel_left - 1)
            noon = _dt.datetime(day.year, day.month, day.day, 12, tzinfo=tz)
            self.day.append(day.isoformat() + " ")
            self.off.append(noon.strftime(" %z"))
            self.tz.append(tz.key)
            self.year.append(day.year)
            self.month.append(day.month)
        self.hms = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]

    def fmt(self, t: float) -> str:
        d, s = divmod(int(t), 86400)
        return self.day[d] + self.hms[s] + self.off[d]

    def date(self, d: int) -> str:
        return self.day[d][:-1]

    def clock12(self, t: float) -> str:
        """ "4:17:18.57 PM" (the locale's time format used in InstantaneousBeatsPerMinute)."""
        s = t % 86400
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        h = int(h)
        return f"{(h % 12) or 12}:{int(m):02d}:{sec:05.2f} {'AM' if h < 12 else 'PM'}"


def ios_version(year: int, month: int) -> tuple[int, int]:
    major = year - 2007 + (1 if month >= 9 else 0)
    if major >= 19:
        major += 7  # iOS 26 came after iOS 18
    return major, (month * 7) % 6


def watchos_version(year: int, month: int) -> tuple[int, int]:
    major, minor = ios_version(year, month)
    return (major - 7 if major < 26 else major), minor


def watch_hardware(year: int) -> str:
    return {
        2016: "Watch2,4",
        2017: "Watch3,4",
        2018: "Watch4,4",
        2019: "Watch5,4",
        2020: "Watch6,2",
        2021: "Watch6,2",
        2022: "Watch7,4",
        2023: "Watch7,4",
        2024: "Watch7,10",
    }.get(year, "Watch7,10" if year > 2024 else "Watch1,2")


def phone_hardware(year: int) -> str:
    return {
        2016: "iPhone8,1",
        2017: "iPhone8,1",
        2018: "iPhone10,4",
        2019: "iPhone12,1",
        2020: "iPhone12,1",
        2021: "iPhone13,2",
        2022: "iPhone13,2",
        2023: "iPhone15,4",
        2024: "iPhone15,4",
    }.get(year, "iPhone17,3" if year > 2024 else "iPhone7,2")


class Sources:
    """Per-day cached sourceName/sourceVersion/device attribute strings."""

    def __init__(self, clock: Clock, seed: int):
        self.clock = clock
        self.seed = seed
        self._cache: dict[tuple[str, int], str] = {}

    def attrs(self, src: str, d: int) -> str:
        key = (src, d)
        a = self._cache.get(key)
        if a is not None:
            return a
        if len(self._cache) > 64:
            self._cache.clear()
        y, mo = self.clock.year[d], self.clock.month[d]
        ptr = random.Random(_seed(self.seed, 2, d * 8 + len(src))).getrandbits(28)
        if src == "W":
            ma, mi = watchos_version(y, mo)
            a = (
                f'sourceName="{WATCH}" sourceVersion="{ma}.{mi}" device="&lt;&lt;HKDevice: 0x28{ptr:07x}&gt;, '
                f"name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:{watch_hardware(y)}, "
                f'software:{ma}.{mi}&gt;"'
            )
        elif src == "P":
            ma, mi = ios_version(y, mo)
            a = (
                f'sourceName="{PHONE}" sourceVersion="{ma}.{mi}" device="&lt;&lt;HKDevice: 0x28{ptr:07x}&gt;, '
                f"name:iPhone, manufacturer:Apple Inc., model:iPhone, hardware:{phone_hardware(y)}, "
                f'software:{ma}.{mi}&gt;"'
            )
        elif src == "S":  # a smart scale's app
            a = (
                f'sourceName="Withings" sourceVersion="6{y % 10}0{mo}00" device="&lt;&lt;HKDevice: 0x28{ptr:07x}&gt;, '
                f'name:Body+, manufacturer:Withings, model:WBS05, hardware:WBS05, software:1250&gt;"'
            )
        elif src == "H":  # typed in by hand in the Health app
            ma, mi = ios_version(y, mo)
            a = f'sourceName="Health" sourceVersion="{ma}.{mi}"'
        elif src == "B":  # a blood-pressure cuff's app
            a = 'sourceName="OMRON connect" sourceVersion="2024.5.1"'
        elif src == "M":  # mindfulness app on the watch
            ma, mi = watchos_version(y, mo)
            a = f'sourceName="{WATCH}" sourceVersion="{ma}.{mi}"'
        else:
            raise ValueError(src)
        self._cache[key] = a
        return a


class Out:
    """Chunked writer: strings -> ~2 MB UTF-8 chunks -> a writer thread (zip or plain file)."""

    def __init__(self, sinks):
        self.buf: list[str] = []
        self.n = 0
        self.bytes = 0
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.sinks = sinks
        self.err = None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        try:
            while True:
                b = self.q.get()
                if b is None:
                    return
                for s in self.sinks:
                    s.write(b)
        except BaseException as e:  # noqa: BLE001
            self.err = e
            while self.q.get() is not None:
                pass

    def w(self, s: str):
        self.buf.append(s)
        self.n += len(s)
        if self.n >= 1 << 21:  # ~2 MB of text per chunk
            self.flush()

    def flush(self):
        if self.buf:
            b = "".join(self.buf).encode(ENC)
            self.bytes += len(b)
            self.q.put(b)
            self.buf = []
            self.n = 0
        if self.err:
            raise self.err

    def close(self):
        self.flush()
        self.q.put(None)
        self.th.join()
        if self.err:
            raise self.err


class Gen:
    def __init__(self, records: int, seed: int, end: _dt.date, years: float | None, routes: bool):
        self.N = records
        self.seed = seed
        self.routes = routes
        if years is None:
            years = min(10.0, max(1.0, records / 250_000))
        days = max(2, int(round(years * 365.25)))
        fixed_per_day = sum(FIXED_RATE.values())
        if (
            fixed_per_day * days > 0.4 * records
        ):  # tiny exports: keep the dense types in the majority
            days = max(2, int(0.4 * records / fixed_per_day))
        self.days = days
        self.first = end - _dt.timedelta(days=days - 1)
        self.clock = Clock(self.first, days, seed)
        self.src = Sources(self.clock, seed)
        # exact per-type counts
        q = {}
        nights = days - 1
        q[C + "SleepAnalysis"] = nights * (1 + SLEEP_STAGES_PER_NIGHT)
        q[C + "AppleStandHour"] = days * len(STAND_HOURS)
        q[P + "RestingHeartRate"] = days
        q[P + "WalkingHeartRateAverage"] = days
        self.n_bp = int(round(BP_RATE * days))
        q[P + "BloodPressureDiastolic"] = self.n_bp
        q[P + "BloodPressureSystolic"] = self.n_bp
        for name, rate in FIXED:
            q.setdefault(name, int(round(rate * days)))
        left = records - sum(q.values())
        if left < len(DENSE):
            raise SystemExit(
                f"--records {records} is too small for {days} days; pass a smaller --years"
            )
        wsum = sum(x[5] for x in DENSE)
        raw = [(x[0], left * x[5] / wsum) for x in DENSE]
        base = {k: int(v) for k, v in raw}
        rest = left - sum(base.values())
        for k, v in sorted(raw, key=lambda kv: kv[1] - int(kv[1]), reverse=True)[:rest]:
            base[k] += 1
        q.update(base)
        self.quota = q
        assert sum(q.values()) == records, (sum(q.values()), records)
        self.counts: dict[str, int] = {}
        self.n_correlations = 0
        self.n_workouts = 0
        self.n_nested = 0

    # ---------------------------------------------------------------- schedule shared by several sections
    def workout(self, d: int):
        """The workout of day d, or None: (kind tuple, start t, duration s). Recomputed, never stored."""
        r = random.Random(_seed(self.seed, 3, d))
        if r.random() >= WORKOUT_P:
            return None
        x = r.random()
        acc = 0.0
        kind = WORKOUT_KINDS[-1]
        for k in WORKOUT_KINDS:
            acc += k[1]
            if x < acc:
                kind = k
                break
        if r.random() < 0.3:
            start = d * 86400 + 6.5 * 3600 + r.uniform(0, 3600)
        else:
            start = d * 86400 + 17 * 3600 + r.uniform(-5400, 5400)
        dur = r.uniform(20, 75) * 60
        if kind[0] == "Cycling":
            dur *= 1.6
        return kind, start, dur

    def workouts(self):
        for d in range(self.days):
            w = self.workout(d)
            if w:
                yield d, w

    def bp_readings(self):
        """(t, systolic, diastolic, src) blood-pressure readings in time order; recomputed for each use."""
        n = self.n_bp
        r = random.Random(_seed(self.seed, 4))
        step = self.days * 86400 / max(1, n)
        for i in range(n):
            day0 = int((i + 0.5) * step // 86400)
            t = day0 * 86400 + 7.5 * 3600 + r.uniform(0, 13 * 3600)
            sysv = int(r.gauss(124, 9))
            dia = int(r.gauss(79, 6))
            yield t, sysv, dia, ("B" if r.random() < 0.8 else "H")

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def ticks(quota: int, days: int, w0: float, wlen: float, r: random.Random):
        """quota stratified times, in order, inside the daily window [w0, w0+wlen) hours of every day."""
        if quota <= 0:
            return
        win = wlen * 3600.0
        step = days * win / quota
        rnd = r.random
        base = w0 * 3600.0
        for i in range(quota):
            u = (i + rnd()) * step
            d = int(u // win)
            yield d * 86400 + base + (u - d * win)

    def rec(
        self,
        out: Out,
        typ: str,
        unit: str | None,
        srcattrs: str,
        t0: float,
        t1: float,
        tc: float,
        value: str,
        children: str | None = None,
    ):
        f = self.clock.fmt
        u = f' unit="{unit}"' if unit else ""
        head = (
            f' <Record type="{typ}" {srcattrs}{u} creationDate="{f(tc)}" startDate="{f(t0)}" '
            f'endDate="{f(t1)}" value="{value}"'
        )
        out.w(head + ("/>\n" if children is None else ">\n" + children + " </Record>\n"))

    # ---------------------------------------------------------------- dense types (the hot loop)
    def dense(self, out: Out, typ: str, unit: str, srcs: str, w0: float, wlen: float, quota: int):
        r = random.Random(_seed(self.seed, 10, ORDER.index(typ)))
        rnd, gauss = r.random, r.gauss
        fmt = self.clock.fmt
        day_s, hms, off = self.clock.day, self.clock.hms, self.clock.off
        src = self.src.attrs
        w = out.w
        short = typ[len(P) :]
        is_hr = short == "HeartRate"
        pairs = srcs == "PW"
        n_ticks = quota
        if pairs:
            n_ticks = (quota + 1) // 2
        # heart rate: 20% of its samples come in bursts during workouts
        burst = None
        if is_hr:
            total_w = sum(w_[1][2] for w_ in self.workouts())
            n_burst = int(n_ticks * 0.2) if total_w > 0 else 0
            n_ticks -= n_burst
            burst = self._hr_burst(n_burst, total_w, r)
        main = self.ticks(n_ticks, self.days, w0, wlen, r)
        if burst is not None:
            import heapq

            stream = heapq.merge(((t, 0) for t in main), ((t, 1) for t in burst))
        else:
            stream = ((t, 0) for t in main)
        emitted = 0
        cur_d = -1
        pre_w = pre_p = ""
        ustr = f' unit="{unit}"'
        for t, inb in stream:
            d = int(t // 86400)
            if d != cur_d:
                cur_d = d
                pre_w = f' <Record type="{typ}" {src("W", d)}{ustr} creationDate="'
                pre_p = f' <Record type="{typ}" {src("P", d)}{ustr} creationDate="'
            # duration / value per type
            if is_hr:
                dur = 0.0
                if inb:
                    v = f"{int(gauss(138, 14))}"
                    mc = "2"
                else:
                    hour = (t % 86400) / 3600
                    v = f"{int(gauss(58, 4) if hour < 6.5 or hour > 23 else gauss(76, 11))}"
                    x = rnd()
                    mc = "0" if x < 0.25 else ("1" if x < 0.9 else "2")
                te = t
                tc = t + 60 + rnd() * 600
                s0 = int(t)
                dd, ss = divmod(s0, 86400)
                sd = day_s[dd] + hms[ss] + off[dd]
                if rnd() < 0.92:
                    w(
                        f'{pre_w}{fmt(tc)}" startDate="{sd}" endDate="{sd}" value="{v}">\n'
                        f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{mc}"/>\n </Record>\n'
                    )
                else:
                    w(f'{pre_w}{fmt(tc)}" startDate="{sd}" endDate="{sd}" value="{v}"/>\n')
                emitted += 1
                continue
            if short == "StepCount":
                dur = 30 + rnd() * 570
                val = max(1, int(dur / 60 * gauss(95, 25)))
                vs = str(val)
            elif short == "DistanceWalkingRunning":
                dur = 30 + rnd() * 570
                val = max(0.001, dur / 60 * gauss(0.075, 0.02))
                vs = f"{val:.5f}"
            elif short == "FlightsClimbed":
                dur = 10 + rnd() * 120
                val = 1 + int(rnd() * 3)
                vs = str(val)
            elif short == "ActiveEnergyBurned":
                dur = 60 + rnd() * 300
                vs = f"{max(0.01, dur / 60 * abs(gauss(0.9, 0.6))):.3f}"
            elif short == "BasalEnergyBurned":
                dur = 300 + rnd() * 900
                vs = f"{dur / 60 * gauss(1.18, 0.05):.3f}"
            elif short in ("AppleExerciseTime", "AppleStandTime"):
                dur = 60.0
                vs = str(1 + int(rnd() * 2.2))
            elif short in ("EnvironmentalAudioExposure", "HeadphoneAudioExposure"):
                dur = 1800.0
                vs = f"{gauss(68 if short[0] == 'E' else 72, 8):.4f}"
            elif short == "WalkingDoubleSupportPercentage":
                dur = 10 + rnd() * 40
                vs = f"{max(0.15, gauss(0.29, 0.03)):.3f}"
            elif short == "WalkingSpeed":
                dur = 10 + rnd() * 40
                vs = f"{gauss(4.8, 0.5):.4f}"
            elif short == "WalkingStepLength":
                dur = 10 + rnd() * 40
                vs = f"{gauss(72, 5):.1f}"
            elif short == "WalkingAsymmetryPercentage":
                dur = 10 + rnd() * 40
                vs = f"{max(0.0, gauss(0.02, 0.02)):.3f}"
            elif short == "RespiratoryRate":
                dur = 90 + rnd() * 240
                vs = f"{gauss(14.5, 1.2):.1f}"
            elif short == "OxygenSaturation":
                dur = 0.0
                vs = f"{min(1.0, gauss(0.965, 0.012)):.2f}"
            else:
                raise ValueError(typ)
            te = t + dur
            tc = te + 5 + rnd() * 900
            # real exports write the start/end strings of each sample; keep the fast path inline
            s0 = int(t)
            dd, ss = divmod(s0, 86400)
            sd = day_s[dd] + hms[ss] + off[dd]
            ed = fmt(te)
            cd = fmt(tc)
            if pairs:
                w(f'{pre_p}{cd}" startDate="{sd}" endDate="{ed}" value="{vs}"/>\n')
                emitted += 1
                if emitted < quota:
                    # the Watch saw the same walk: shifted bounds, a slightly different count
                    k = 0.85 + 0.3 * rnd()
                    if short == "DistanceWalkingRunning":
                        vs2 = f"{val * k:.5f}"
                    else:
                        vs2 = str(max(1, int(val * k)))
                    ts = t + rnd() * 40 - 20
                    w(
                        f'{pre_w}{fmt(tc + 30)}" startDate="{fmt(ts)}" endDate="{fmt(ts + dur * (0.8 + 0.4 * rnd()))}" '
                        f'value="{vs2}"/>\n'
                    )
                    emitted += 1
            else:
                w(
                    f'{pre_w if srcs == "W" else pre_p}{cd}" startDate="{sd}" endDate="{ed}" value="{vs}"/>\n'
                )
                emitted += 1
        assert emitted == quota, (typ, emitted, quota)
        self.counts[typ] = emitted

    def _hr_burst(self, n: int, total_w: float, r: random.Random):
        if n <= 0:
            return
        step = total_w / n
        rnd = r.random
        acc = 0.0  # workout-seconds before the current workout
        i = 0
        for _d, (_k, start, dur) in self.workouts():
            while i < n:
                u = (i + rnd() * 0.999) * step
                if u >= acc + dur:
                    break
                yield start + (u - acc)
                i += 1
            acc += dur
        while i < n:  # rounding leftovers land at the end of the last workout
            yield start + dur
            i += 1

    # ---------------------------------------------------------------- fixed-rate types
    def fixed(self, out: Out, typ: str):
        r = random.Random(_seed(self.seed, 11, ORDER.index(typ)))
        rnd, gauss = r.random, r.gauss
        src = self.src.attrs
        clock = self.clock
        short = typ.replace(P, "").replace(C, "")
        n = 0
        if short == "SleepAnalysis":
            for d in range(1, self.days):
                bed = d * 86400 - 3600 + gauss(0, 2400)
                wake = d * 86400 + 7 * 3600 + gauss(0, 2000)
                tz_meta = f'  <MetadataEntry key="HKTimeZone" value="{clock.tz[d]}"/>\n'
                self.rec(
                    out,
                    typ,
                    None,
                    src("P", d),
                    bed - 600,
                    wake + 300,
                    wake + 400,
                    "HKCategoryValueSleepAnalysisInBed",
                    tz_meta,
                )
                n += 1
                cuts = sorted(r.random() for _ in range(SLEEP_STAGES_PER_NIGHT - 1))
                edges = [bed] + [bed + c * (wake - bed) for c in cuts] + [wake]
                stages = ("AsleepCore", "AsleepDeep", "AsleepCore", "AsleepREM", "Awake")
                for j in range(SLEEP_STAGES_PER_NIGHT):
                    st = stages[j % 5] if j else "Awake"
                    self.rec(
                        out,
                        typ,
                        None,
                        src("W", d),
                        edges[j],
                        edges[j + 1],
                        wake + 700,
                        "HKCategoryValueSleepAnalysis" + st,
                        tz_meta,
                    )
                    n += 1
        elif short == "AppleStandHour":
            for d in range(self.days):
                sa = src("W", d)
                for h in STAND_HOURS:
                    t = d * 86400 + h * 3600
                    v = (
                        "HKCategoryValueAppleStandHourStood"
                        if rnd() < 0.75
                        else "HKCategoryValueAppleStandHourIdle"
                    )
                    self.rec(out, typ, None, sa, t, t + 3600, t + 3600 + rnd() * 300, v)
                    n += 1
        elif short in ("RestingHeartRate", "WalkingHeartRateAverage"):
            for d in range(self.days):
                t0 = d * 86400 + 60
                t1 = d * 86400 + 86400 - 120
                v = gauss(57, 3) if short[0] == "R" else gauss(98, 7)
                self.rec(out, typ, "count/min", src("W", d), t0, t1, t1 + 60, str(int(v)))
                n += 1
        elif short in ("BloodPressureSystolic", "BloodPressureDiastolic"):
            for t, sysv, dia, s in self.bp_readings():
                d = int(t // 86400)
                v = sysv if short.endswith("Systolic") else dia
                self.rec(out, typ, "mmHg", src(s, d), t, t, t + 5, str(v))
                n += 1
        else:
            quota = self.quota[typ]
            if short == "HeartRateVariabilitySDNN":
                ticks = self.ticks(quota, self.days, 0, 24, r)
            elif short == "BodyMass":
                ticks = self.ticks(quota, self.days, 6.5, 1.5, r)
            else:
                ticks = self.ticks(quota, self.days, 7, 15, r)
            mass = 78.0
            for t in ticks:
                d = int(t // 86400)
                if short == "HeartRateVariabilitySDNN":
                    nb = 55 + int(rnd() * 30)
                    beats = []
                    tb = t
                    hr = gauss(64, 8)
                    for _ in range(nb):
                        bpm = int(hr + gauss(0, 4))
                        beats.append(
                            f'   <InstantaneousBeatsPerMinute bpm="{bpm}" time="{clock.clock12(tb)}"/>\n'
                        )
                        tb += 60.0 / max(35, bpm)
                    kids = (
                        "  <HeartRateVariabilityMetadataList>\n"
                        + "".join(beats)
                        + "  </HeartRateVariabilityMetadataList>\n"
                    )
                    self.rec(
                        out,
                        typ,
                        "ms",
                        src("W", d),
                        t,
                        tb,
                        tb + 30,
                        f"{max(8.0, gauss(48, 14)):.4f}",
                        kids,
                    )
                elif short == "BodyMass":
                    mass += gauss(0, 0.35) + (78.0 - mass) * 0.02
                    if rnd() < 0.85:
                        self.rec(out, typ, "kg", src("S", d), t, t, t + 20, f"{mass:.2f}")
                    else:
                        self.rec(
                            out,
                            typ,
                            "kg",
                            src("H", d),
                            t,
                            t,
                            t,
                            f"{mass:.1f}",
                            '  <MetadataEntry key="HKWasUserEntered" value="1"/>\n',
                        )
                elif short == "VO2Max":
                    self.rec(
                        out,
                        typ,
                        "mL/min\u00b7kg",
                        src("W", d),
                        t,
                        t,
                        t + 10,
                        f"{gauss(44, 2):.3f}",
                        '  <MetadataEntry key="HKVO2MaxTestType" value="2"/>\n',
                    )
                elif short == "MindfulSession":
                    self.rec(
                        out,
                        typ,
                        None,
                        src("M", d),
                        t,
                        t + 60 * (1 + int(rnd() * 10)),
                        t + 700,
                        "HKCategoryValueNotApplicable",
                    )
                else:
                    raise ValueError(typ)
                n += 1
        assert n == self.quota[typ], (typ, n, self.quota[typ])
        self.counts[typ] = n

    # ---------------------------------------------------------------- other sections
    def correlations(self, out: Out):
        src = self.src.attrs
        f = self.clock.fmt
        for t, sysv, dia, s in self.bp_readings():
            d = int(t // 86400)
            sa = src(s, d)
            meta = '  <MetadataEntry key="HKWasUserEntered" value="1"/>\n' if s == "H" else ""
            kids = (
                f'  <Record type="{P}BloodPressureDiastolic" {sa} unit="mmHg" creationDate="{f(t + 5)}" '
                f'startDate="{f(t)}" endDate="{f(t)}" value="{dia}"/>\n'
                f'  <Record type="{P}BloodPressureSystolic" {sa} unit="mmHg" creationDate="{f(t + 5)}" '
                f'startDate="{f(t)}" endDate="{f(t)}" value="{sysv}"/>\n'
            )
            out.w(
                f' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" {sa} creationDate="{f(t + 5)}" '
                f'startDate="{f(t)}" endDate="{f(t)}">\n{meta}{kids} </Correlation>\n'
            )
            self.n_correlations += 1
            self.n_nested += 2

    def route_name(self, start: float) -> str:
        d = int(start // 86400)
        s = int(start % 86400)
        h, m = s // 3600, (s % 3600) // 60
        return f"route_{self.clock.date(d)}_{(h % 12) or 12}.{m:02d}{'am' if h < 12 else 'pm'}.gpx"

    def workouts_section(self, out: Out):
        f = self.clock.fmt
        src = self.src.attrs
        for d, (kind, start, dur) in self.workouts():
            name, _wt, outdoor, dist_type, kcal_min, speed = kind
            r = random.Random(_seed(self.seed, 5, d))
            gauss = r.gauss
            end = start + dur
            minutes = dur / 60
            kcal = minutes * kcal_min * (0.9 + 0.2 * r.random())
            basal = minutes * 1.2
            dist = minutes * speed * (0.9 + 0.2 * r.random())
            sa = src("W", d)
            new_style = self.clock.year[d] * 100 + self.clock.month[d] >= 202209
            head = (
                f' <Workout workoutActivityType="HKWorkoutActivityType{name}" duration="{minutes:.10g}" '
                f'durationUnit="min"'
            )
            if not new_style:
                if dist_type:
                    head += f' totalDistance="{dist:.10g}" totalDistanceUnit="km"'
                head += f' totalEnergyBurned="{kcal:.10g}" totalEnergyBurnedUnit="kcal"'
            lines = [
                f'{head} {sa} creationDate="{f(end + 20)}" startDate="{f(start)}" endDate="{f(end)}">\n'
            ]
            lines.append(
                f'  <MetadataEntry key="HKIndoorWorkout" value="{0 if outdoor else 1}"/>\n'
            )
            lines.append(f'  <MetadataEntry key="HKTimeZone" value="{self.clock.tz[d]}"/>\n')
            lines.append(
                f'  <MetadataEntry key="HKAverageMETs" value="{kcal_min * 1.15:.5f} kcal/hr\u00b7kg"/>\n'
            )
            if outdoor:
                lines.append(
                    f'  <MetadataEntry key="HKElevationAscended" value="{int(r.uniform(500, 9000))} cm"/>\n'
                )
                lines.append(
                    f'  <MetadataEntry key="HKWeatherTemperature" value="{gauss(60, 12):.2f} degF"/>\n'
                )
                lines.append(
                    f'  <MetadataEntry key="HKWeatherHumidity" value="{int(r.uniform(30, 95)) * 100} %"/>\n'
                )
            if name == "Swimming":
                lines.append('  <MetadataEntry key="HKSwimmingLocationType" value="1"/>\n')
                lines.append('  <MetadataEntry key="HKLapLength" value="25 m"/>\n')
            if r.random() < 0.3:
                tp = start + dur * r.uniform(0.2, 0.8)
                lines.append(f'  <WorkoutEvent type="HKWorkoutEventTypePause" date="{f(tp)}"/>\n')
                lines.append(
                    f'  <WorkoutEvent type="HKWorkoutEventTypeResume" date="{f(tp + r.uniform(20, 200))}"/>\n'
                )
            if dist_type == "DistanceWalkingRunning":
                seg = start
                for _k in range(int(dist)):
                    sd = 60.0 / (speed * 60) * 60 * (0.9 + 0.2 * r.random())
                    lines.append(
                        f'  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="{f(seg)}" '
                        f'duration="{sd / 60:.10g}" durationUnit="min"/>\n'
                    )
                    seg += sd
            if new_style:
                hr_avg = gauss(138, 8)
                lines.append(
                    f'  <WorkoutStatistics type="{P}ActiveEnergyBurned" startDate="{f(start)}" endDate="{f(end)}" '
                    f'sum="{kcal:.10g}" unit="kcal"/>\n'
                )
                lines.append(
                    f'  <WorkoutStatistics type="{P}BasalEnergyBurned" startDate="{f(start)}" endDate="{f(end)}" '
                    f'sum="{basal:.10g}" unit="kcal"/>\n'
                )
                lines.append(
                    f'  <WorkoutStatistics type="{P}HeartRate" startDate="{f(start)}" endDate="{f(end)}" '
                    f'average="{hr_avg:.10g}" minimum="{int(hr_avg - 40)}" maximum="{int(hr_avg + 30)}" '
                    f'unit="count/min"/>\n'
                )
                if dist_type:
                    unit, dv = ("m", dist * 1000) if name == "Swimming" else ("km", dist)
                    lines.append(
                        f'  <WorkoutStatistics type="{P}{dist_type}" startDate="{f(start)}" endDate="{f(end)}" '
                        f'sum="{dv:.10g}" unit="{unit}"/>\n'
                    )
                if dist_type == "DistanceWalkingRunning":
                    lines.append(
                        f'  <WorkoutStatistics type="{P}StepCount" startDate="{f(start)}" endDate="{f(end)}" '
                        f'sum="{int(minutes * 160)}" unit="count"/>\n'
                    )
            if self.routes and outdoor:
                uuid = "%08X-%04X-%04X-%04X-%012X" % tuple(
                    r.getrandbits(b) for b in (32, 16, 16, 16, 48)
                )
                lines.append(
                    f'  <WorkoutRoute {sa} creationDate="{f(end + 60)}" startDate="{f(start)}" endDate="{f(end)}">\n'
                )
                lines.append('   <MetadataEntry key="HKMetadataKeySyncVersion" value="2"/>\n')
                lines.append(
                    f'   <MetadataEntry key="HKMetadataKeySyncIdentifier" value="{uuid}"/>\n'
                )
                lines.append(
                    f'   <FileReference path="/workout-routes/{self.route_name(start)}"/>\n'
                )
                lines.append("  </WorkoutRoute>\n")
            lines.append(" </Workout>\n")
            out.w("".join(lines))
            self.n_workouts += 1

    def gpx(self, start: float, dur: float, speed_km_min: float, d: int) -> bytes:
        r = random.Random(_seed(self.seed, 6, d))
        lat, lon = 52.52 + r.uniform(-0.05, 0.05), 13.40 + r.uniform(-0.05, 0.05)
        off = self.clock.off[d].strip()
        sign = -1 if off[0] == "+" else 1
        utc_shift = sign * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)
        rows = []
        v = speed_km_min * 1000 / 60
        ang = r.uniform(0, 6.283)
        for s in range(0, int(dur), 1):
            ang += r.gauss(0, 0.05)
            lat += math.cos(ang) * v / 111_000
            lon += math.sin(ang) * v / 68_000
            tu = start + s + utc_shift
            dd, ss = divmod(int(tu), 86400)
            ts = self.clock.date(dd) + "T" + self.clock.hms[ss] + "Z"
            rows.append(
                f'<trkpt lon="{lon:.6f}" lat="{lat:.6f}"><ele>{35 + r.gauss(0, 2):.6f}</ele><time>{ts}</time>'
                f"<extensions><speed>{v + r.gauss(0, 0.2):.6f}</speed><course>{math.degrees(ang) % 360:.6f}</course>"
                f"<hAcc>{r.uniform(1, 6):.6f}</hAcc><vAcc>{r.uniform(1, 4):.6f}</vAcc></extensions></trkpt>"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="Apple Health Export" '
            'xmlns="http://www.topografix.com/GPX/1/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">\n'
            f"<metadata><time>{rows[0].split('<time>')[1][:20] if rows else ''}</time></metadata>\n<trk><name>Route "
            f"{self.clock.date(d)}</name><trkseg>\n"
            + "\n".join(rows)
            + "\n</trkseg></trk>\n</gpx>\n"
        )
        return body.encode(ENC)

    def activity_summaries(self, out: Out):
        for d in range(self.days):
            r = random.Random(_seed(self.seed, 7, d))
            w = self.workout(d)
            ex = int(w[2] / 60) if w else 0
            out.w(
                f' <ActivitySummary dateComponents="{self.clock.date(d)}" '
                f'activeEnergyBurned="{r.uniform(250, 650) + ex * 8:.6g}" activeEnergyBurnedGoal="600" '
                f'activeEnergyBurnedUnit="Cal" appleMoveTime="0" appleMoveTimeGoal="0" '
                f'appleExerciseTime="{ex + int(r.uniform(0, 15))}" appleExerciseTimeGoal="30" '
                f'appleStandHours="{int(r.uniform(7, 15))}" appleStandHoursGoal="12"/>\n'
            )

    def write(self, out: Out):
        end_d = self.days - 1
        out.w(DTD)
        out.w(f'<HealthData locale="{LOCALE}">\n')
        out.w(f' <ExportDate value="{self.clock.fmt(end_d * 86400 + 22 * 3600 + 1234)}"/>\n')
        out.w(
            ' <Me HKCharacteristicTypeIdentifierDateOfBirth="1986-04-19" '
            'HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" '
            'HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" '
            'HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" '
            'HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>\n'
        )
        dense = {x[0]: x for x in DENSE}
        for typ in ORDER:
            if typ in dense:
                _n, unit, srcs, w0, wlen, _w = dense[typ]
                self.dense(out, typ, unit, srcs, w0, wlen, self.quota[typ])
            else:
                self.fixed(out, typ)
        self.correlations(out)
        self.workouts_section(out)
        self.activity_summaries(out)
        out.w("</HealthData>\n")


def _zinfo(name: str, level: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(2026, 6, 30, 22, 20, 34))
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi._compresslevel = level  # noqa: SLF001  (honoured by ZipFile.open for writing)
    return zi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--records", type=int, required=True, help="exact number of top-level <Record> elements"
    )
    ap.add_argument(
        "--out", required=True, help="export.zip (zip layout) or *.xml (plain export.xml)"
    )
    ap.add_argument("--also-xml", help="also write the same export.xml, uncompressed, here")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--years", type=float, default=None, help="time span (default: records/250k, 1..10)"
    )
    ap.add_argument("--end", default="2026-06-30", help="last day of data (YYYY-MM-DD)")
    ap.add_argument("--level", type=int, default=6, help="deflate level for the zip (default 6)")
    ap.add_argument(
        "--routes",
        action="store_true",
        help="add workout-routes/*.gpx + <WorkoutRoute> (1 point/s)",
    )
    ap.add_argument("--stats", action="store_true", help="print counts per type")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    g = Gen(a.records, a.seed, _dt.date.fromisoformat(a.end), a.years, a.routes)
    sinks = []
    zf = None
    files = []
    if a.out.endswith(".xml"):
        files.append(open(a.out, "wb"))
        sinks.append(files[-1])
    else:
        zf = zipfile.ZipFile(
            a.out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=a.level, allowZip64=True
        )
        zsink = zf.open(_zinfo("apple_health_export/export.xml", a.level), "w", force_zip64=True)
        sinks.append(zsink)
    if a.also_xml:
        files.append(open(a.also_xml, "wb"))
        sinks.append(files[-1])
    out = Out(sinks)
    g.write(out)
    out.close()
    for s in sinks:
        s.close()
    if zf is not None:
        zf.writestr(_zinfo("apple_health_export/export_cda.xml", a.level), CDA)
        if a.routes:
            for d, (kind, start, dur) in g.workouts():
                if kind[2]:
                    zf.writestr(
                        _zinfo(
                            "apple_health_export/workout-routes/" + g.route_name(start), a.level
                        ),
                        g.gpx(start, dur, kind[5], d),
                    )
        zf.close()
    dt = time.perf_counter() - t0
    total_rec = a.records + g.n_nested
    msg = (
        f"wrote {a.out}: {a.records:,} top-level Records (+{g.n_nested:,} nested in {g.n_correlations:,} "
        f"Correlations = {total_rec:,} <Record> elements), {g.n_workouts:,} Workouts, {g.days:,} ActivitySummaries, "
        f"{g.days} days {g.first}..{g.first + _dt.timedelta(days=g.days - 1)}; export.xml {out.bytes / 1e6:.1f} MB; "
        f"{dt:.1f} s ({a.records / dt:,.0f} records/s)"
    )
    print(msg, file=sys.stderr)
    if a.stats:
        for typ in ORDER:
            print(f"  {g.counts.get(typ, 0):>10,}  {typ}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
