"""The Fitbit account export ("user-site-export" / Google Takeout "Global Export Data").

Each file of the export is imported on its own (a folder or zip of them file by file); its kind
comes from the file name without its date (`heart_rate-2018-01-01.json` → heart_rate) and is
checked against its JSON shape. Arrays are streamed item by item (ijson).

Fitbit writes wall-clock times without a zone (`"01/01/18 00:00:07"`; sleep logs
`"2018-02-01T22:36:00.000"`); the export does not say the offset, so these are stored at offset
+00:00 with a warning: each day stays the person's local day, instants may be off by the offset.
`sleep_score.csv` has UTC times (`Z`). Distances are centimetres; weights are pounds unless the
logged BMI says kilograms.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any, BinaryIO, ClassVar

import ijson  # type: ignore[import-untyped]
from ijson.common import ObjectBuilder  # type: ignore[import-untyped]

from healthpod.errors import MalformedFile
from healthpod.ingest import zones
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn, SourceRef, Warning_, Workout
from healthpod.ingest.vendors.common import Emitter, number, peekable
from healthpod.ingest.zones import offset_min_at

SOURCE = SourceRef(name="Fitbit", kind="device")
EMIT = Emitter(SOURCE)
NO_ZONE = (
    f"Fitbit writes times without a zone; they are stored with offset +00:00 ({zones.HOW_TO_SAY})"
)
DAY_MS = 86_400_000
MAX_DEPTH = 16  # the deepest real export file (sleep levels) nests 4 levels
MINUTE_MS = 60_000

# kind (file name without date) → how to read one entry
SERIES_KINDS = {
    "heart_rate",
    "steps",
    "distance",
    "calories",
    "resting_heart_rate",
    "altitude",
    "very_active_minutes",
    "moderately_active_minutes",
    "lightly_active_minutes",
    "sedentary_minutes",
    "heart_rate_zones",
    "time_in_heart_rate_zones",
}
LOG_KINDS = {"sleep", "exercise", "weight"}
STAGES = {
    "deep": "HKCategoryValueSleepAnalysisAsleepDeep",
    "light": "HKCategoryValueSleepAnalysisAsleepCore",
    "rem": "HKCategoryValueSleepAnalysisAsleepREM",
    "wake": "HKCategoryValueSleepAnalysisAwake",
    "awake": "HKCategoryValueSleepAnalysisAwake",
    "restless": "HKCategoryValueSleepAnalysisAwake",  # Fitbit counts restless as awake time
    "asleep": "HKCategoryValueSleepAnalysisAsleepUnspecified",
}
SLEEP_SCORE_HEADER = b"sleep_log_entry_id,timestamp,overall_score"


def kind_of(filename: str) -> str:
    """`steps-2018-01-01.json` → "steps"; `exercise-100.json` → "exercise"; a member of a zip
    is named `export.zip:steps-2018-01-01.json` (`run._import_members`)."""
    stem = re.split(r"[\\/:]", filename)[-1].rsplit(".", 1)[0].lower()
    return re.sub(r"-(\d{4}-\d{2}(-\d{2})?|\d+)$", "", stem)


class FitbitExportImporter:
    """Reads the JSON and CSV files of a Fitbit account export."""

    format: ClassVar[str] = "fitbit"

    def sniff(self, head: bytes, filename: str) -> bool:
        kind = kind_of(filename)
        if head.startswith(SLEEP_SCORE_HEADER):
            return True
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped.startswith(b"["):
            return False
        if kind in SERIES_KINDS:
            return b'"dateTime"' in head and b'"value"' in head
        if kind in LOG_KINDS:
            return b'"logId"' in head
        return stripped.rstrip() == b"[]" and kind in SERIES_KINDS | LOG_KINDS

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples, sleep and workouts of one export file.

        Raises:
            MalformedFile: not JSON (with the byte where it broke), or a file of a kind
                healthpod does not know.
        """
        kind = kind_of(filename)
        reader = peekable(fp)
        if reader.peek(len(SLEEP_SCORE_HEADER)).startswith(SLEEP_SCORE_HEADER):
            yield from _sleep_scores(reader, filename, errors)
            return
        read_entry = ENTRY_READERS.get(kind)
        if read_entry is None:
            raise MalformedFile(
                f"a Fitbit file of kind {kind!r} is not supported",
                source=filename,
                hint="Supported: " + ", ".join(sorted(ENTRY_READERS)) + ", sleep_score.csv.",
            )
        if zones.assumed() is None:
            yield Warning_("file", NO_ZONE)
        n = -1
        try:
            for n, entry in _entries(reader, filename):
                where = f"entry {n}"
                if not isinstance(entry, dict):
                    yield from _problem(errors, filename, where, "an entry that is not an object")
                    continue
                try:
                    yield from read_entry(entry, where)
                except (ValueError, TypeError, KeyError) as exc:
                    yield from _problem(errors, filename, where, f"cannot be read ({exc})")
                if on_progress is not None and n % 1000 == 0:
                    on_progress(reader.tell())
        except ijson.JSONError as exc:
            raise MalformedFile(
                f"not valid JSON ({exc})",
                source=filename,
                location=f"entry {n + 1}",
                hint="The file may be cut short; export it from Fitbit again.",
            ) from exc


def _entries(fp: IO[bytes], filename: str) -> Iterator[tuple[int, Any]]:
    """The items of a top-level JSON array, streamed, refusing nesting deeper than MAX_DEPTH
    (a hostile file of a million brackets would otherwise exhaust memory).

    Raises:
        MalformedFile: not an array, or nested too deeply.
    """
    depth, index, builder = 0, -1, None
    # basic_parse, not parse: parse builds a prefix string per level, quadratic in the depth.
    for event, value in ijson.basic_parse(fp, use_float=True):
        opens, closes = event in ("start_map", "start_array"), event in ("end_map", "end_array")
        depth += 1 if opens else -1 if closes else 0
        if depth > MAX_DEPTH:
            raise MalformedFile(
                f"the JSON is nested more than {MAX_DEPTH} levels deep",
                source=filename,
                location=f"entry {max(index, 0)}",
                hint="A Fitbit export is never nested like this; the file is not one.",
            )
        if (opens and depth == 1) or (closes and depth == 0) or (depth == 0 and not opens):
            if event in ("start_array", "end_array"):
                continue  # the top-level array itself
            raise MalformedFile(
                "a Fitbit export file holds a JSON array", source=filename, location="entry 0"
            )
        if builder is None:
            builder, index = ObjectBuilder(), index + 1
        builder.event(event, value)
        if depth == 1:
            yield index, builder.value
            builder = None


def _problem(errors: ErrorHandling, filename: str, where: str, message: str) -> Iterator[Item]:
    if errors is ErrorHandling.RAISE:
        raise MalformedFile(message, source=filename, location=where)
    if errors is ErrorHandling.WARN:
        yield Warning_(where, f"{message}; skipped")


def parse_time(text: str) -> datetime:
    """Fitbit's wall-clock times: "12/31/17 16:42:00", "2018-02-01T22:36:00.000", "2015-05-13"."""
    for pattern in ("%m/%d/%y %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%m/%d/%y"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return datetime.fromisoformat(text)


def local_ms(text: Any) -> int:
    if not isinstance(text, str):
        raise ValueError(f"time {text!r} is not text")
    return zones.wall_clock_ms(parse_time(text))


EntryReader = Callable[[dict[str, Any], str], Iterator[Item]]


def _minute(
    type_code: str, unit: str, factor: float = 1.0, *, skip_zero: bool = False
) -> EntryReader:
    def read(entry: dict[str, Any], where: str) -> Iterator[Item]:
        value = number(entry.get("value"))
        if value is None:
            raise ValueError(f"value {entry.get('value')!r} is not a number")
        if skip_zero and value == 0:
            return
        t = local_ms(entry.get("dateTime"))
        yield EMIT.quantity(type_code, t, t + MINUTE_MS, offset_min_at(t), value * factor, unit)

    return read


def _heart_rate(entry: dict[str, Any], where: str) -> Iterator[Item]:
    value = entry.get("value")
    if not isinstance(value, dict) or number(value.get("bpm")) is None:
        raise ValueError("value.bpm is missing")
    bpm = float(value["bpm"])
    t = local_ms(entry.get("dateTime"))
    meta = {"confidence": value.get("confidence")} if "confidence" in value else None
    yield EMIT.quantity("heart_rate", t, t, offset_min_at(t), bpm, "/min", meta=meta)


def _resting(entry: dict[str, Any], where: str) -> Iterator[Item]:
    found = entry.get("value")
    value: dict[str, Any] = found if isinstance(found, dict) else {}
    rate = number(value.get("value"))
    if not rate:  # Fitbit writes 0 for days it could not compute
        return
    t = local_ms(entry.get("dateTime"))
    meta = {"error": value.get("error")} if value.get("error") is not None else None
    yield EMIT.quantity(
        "resting_heart_rate", t, t + DAY_MS, offset_min_at(t), rate, "/min", meta=meta
    )


def _daily(type_code: str, unit: str) -> EntryReader:
    def read(entry: dict[str, Any], where: str) -> Iterator[Item]:
        value = number(entry.get("value"))
        if value is None:
            raise ValueError(f"value {entry.get('value')!r} is not a number")
        t = local_ms(entry.get("dateTime"))
        yield EMIT.quantity(type_code, t, t + DAY_MS, offset_min_at(t), value, unit, known=False)

    return read


def _zones(entry: dict[str, Any], where: str) -> Iterator[Item]:
    value = entry.get("value")
    zones = value.get("valuesInZones") if isinstance(value, dict) else None
    if not isinstance(zones, dict):
        raise ValueError("value.valuesInZones is missing")
    t = local_ms(entry.get("dateTime"))
    for zone, minutes in sorted(zones.items()):
        amount = number(minutes)
        if amount is not None:
            code = f"fitbit:minutes_{zone.lower()}"
            yield EMIT.quantity(code, t, t + DAY_MS, offset_min_at(t), amount, "min", known=False)


def sleep_log(entry: dict[str, Any], where: str) -> Iterator[Item]:
    """One Fitbit sleep log: in bed for its span, then each stage segment it lists."""
    start = local_ms(entry.get("startTime"))
    end = local_ms(entry["endTime"]) if entry.get("endTime") else start + int(entry["duration"])
    found = entry.get("levels")
    levels: dict[str, Any] = found if isinstance(found, dict) else {}
    meta = {
        "fitbit_log_id": entry.get("logId"),
        "sleep_type": entry.get("type"),
        "main_sleep": entry.get("mainSleep", entry.get("isMainSleep")),
        "minutes_asleep": entry.get("minutesAsleep"),
        "efficiency": entry.get("efficiency"),
        "summary": levels.get("summary"),
    }
    in_bed = "HKCategoryValueSleepAnalysisInBed"
    yield EMIT.category("sleep_analysis", start, end, offset_min_at(start), in_bed, meta=meta)
    for segment in levels.get("data") or []:
        stage = STAGES.get(str(segment.get("level")))
        seconds = number(segment.get("seconds"))
        if stage is None or seconds is None:
            continue
        begin = local_ms(segment.get("dateTime"))
        end_at = begin + int(seconds * 1000)
        yield EMIT.category("sleep_analysis", begin, end_at, offset_min_at(begin), stage)


def exercise_log(entry: dict[str, Any], where: str) -> Iterator[Item]:
    """One logged or detected exercise."""
    start = local_ms(entry.get("startTime"))
    duration_ms = number(entry.get("activeDuration", entry.get("duration"))) or 0
    total_ms = number(entry.get("duration")) or duration_ms
    distance = number(entry.get("distance"))
    if distance is not None and str(entry.get("distanceUnit", "Kilometer")).lower() == "mile":
        distance *= 1.609344
    found = entry.get("source")
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    meta = {
        key: entry[key]
        for key in ("logId", "steps", "averageHeartRate", "logType", "elevationGain")
        if entry.get(key) is not None
    }
    calories = number(entry.get("calories"))
    yield Workout(
        activity_type=str(entry.get("activityName") or entry.get("name") or "other").lower(),
        start_ms=start,
        end_ms=start + int(total_ms),
        start_offset_min=offset_min_at(start),
        end_offset_min=offset_min_at(start + int(total_ms)),
        source=SOURCE,
        duration_s=duration_ms / 1000,
        distance_km=distance,
        energy_kcal=calories or None,
        device=f"Fitbit {source['name']}" if source.get("name") else None,
        meta=meta,
    )


def weight_log(entry: dict[str, Any], where: str, *, unit: str | None = None) -> Iterator[Item]:
    """One weight log; the export writes pounds, which the logged BMI can confirm."""
    weight, bmi = number(entry.get("weight")), number(entry.get("bmi"))
    if weight is None:
        raise ValueError("weight is missing")
    moment = f"{entry.get('date')} {entry.get('time') or '00:00:00'}"
    t = zones.wall_clock_ms(_weight_time(moment))
    written = unit or _weight_unit(weight, bmi)
    kg = weight * 0.45359237 if written == "[lb_av]" else weight
    meta = {"fitbit_log_id": entry.get("logId"), "written_unit": written}
    if entry.get("source"):
        meta["entered_by"] = entry["source"]
    yield EMIT.quantity("body_mass", t, t, offset_min_at(t), kg, "kg", meta=meta)
    if bmi:
        yield EMIT.quantity("body_mass_index", t, t, offset_min_at(t), bmi, "kg/m2", meta=meta)
    fat = number(entry.get("fat"))
    if fat:
        yield EMIT.quantity("body_fat_percentage", t, t, offset_min_at(t), fat, "%", meta=meta)


def _weight_time(text: str) -> datetime:
    for pattern in ("%m/%d/%y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(f"date and time {text!r} are not M/D/YY or YYYY-MM-DD")


def _weight_unit(weight: float, bmi: float | None) -> str:
    """Pounds, unless reading the weight as pounds would make the person under 1.3 m tall."""
    if bmi:
        height_if_pounds = math.sqrt(weight * 0.45359237 / bmi)
        if height_if_pounds < 1.3:
            return "kg"
    return "[lb_av]"


def _sleep_scores(fp: IO[bytes], filename: str, errors: ErrorHandling) -> Iterator[Item]:
    text = io.TextIOWrapper(fp, encoding="utf-8-sig", newline="")
    rows = csv.DictReader(text)
    for row in rows:
        line = f"line {rows.line_num}"
        try:
            stamp = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            score = float(row["overall_score"])
        except (KeyError, ValueError, AttributeError) as exc:
            yield from _problem(errors, filename, line, f"a sleep score row cannot be read ({exc})")
            continue
        t = int(stamp.timestamp() * 1000)
        meta = {k: v for k, v in row.items() if k not in ("timestamp", "overall_score") and v}
        yield EMIT.quantity(
            "fitbit:sleep_score", t, t, offset_min_at(t), score, "{score}", known=False, meta=meta
        )


ENTRY_READERS: dict[str, EntryReader] = {
    "heart_rate": _heart_rate,
    "steps": _minute("steps", "{steps}", skip_zero=True),
    "distance": _minute("distance_walking_running", "km", 1e-5, skip_zero=True),  # centimetres
    "calories": _minute("fitbit:calories", "kcal"),
    "altitude": _minute("fitbit:altitude", "[ft_i]", skip_zero=True),
    "resting_heart_rate": _resting,
    "very_active_minutes": _daily("fitbit:very_active_minutes", "min"),
    "moderately_active_minutes": _daily("fitbit:moderately_active_minutes", "min"),
    "lightly_active_minutes": _daily("fitbit:lightly_active_minutes", "min"),
    "sedentary_minutes": _daily("fitbit:sedentary_minutes", "min"),
    "heart_rate_zones": _zones,
    "time_in_heart_rate_zones": _zones,
    "sleep": sleep_log,
    "exercise": exercise_log,
    "weight": weight_log,
}

IMPORTER = FitbitExportImporter()
