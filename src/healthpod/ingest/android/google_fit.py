"""Google Fit in Google Takeout (`Takeout/Fit/`): daily activity metrics and sessions.

- `Daily activity metrics/2024-05-04.csv`: one file per day, a row per 15 minutes
  (`Start time,End time,…` as `07:15:00.000+02:00`, the day from the file name), with steps,
  distance, calories, move minutes, heart points, heart rate and weight of the quarter hour;
- `Daily activity metrics/Daily activity metrics.csv`: the same per day, without times or
  offsets; passed over with a warning, since the per-day files hold it in finer detail and
  reading both would count every step twice;
- `All Sessions/*.json`: one session per file (`fitnessActivity`, `startTime`, `endTime`,
  `aggregate` totals, `segment`s): a workout, or a night's sleep with its stages.

The TCX files in `Activities/` are read by the TCX importer. The source is `Google Fit`.
Column names are Takeout's English ones; a file from an account in another language is not
recognised.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.android.samsung_health import MAX_LINE_BYTES
from healthpod.ingest.base import (
    CategoryValue,
    ErrorHandling,
    Item,
    ProgressFn,
    Quantity,
    SourceRef,
    Warning_,
    Workout,
)
from healthpod.ingest.text_lines import TextLines
from healthpod.ingest.vendors.common import load_json, peekable

SOURCE = SourceRef(name="Google Fit", kind="app", bundle_id="com.google.android.apps.fitness")
HINT = "Download the Fit data again from Google Takeout (takeout.google.com)."
DAY_FILE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.csv$")
DAY_MS = 86_400_000
INTERVAL_HEADER = b"Start time,End time,"
SUMMARY_HEADER = b"Date,"
# column → (our type, unit, factor)
COLUMNS: dict[str, tuple[str, str, float]] = {
    "Step count": ("steps", "{steps}", 1.0),
    "Distance (m)": ("distance_walking_running", "km", 0.001),
    "Calories (kcal)": ("total_energy", "kcal", 1.0),
    "Move Minutes count": ("googlefit:move_minutes", "min", 1.0),
    "Heart Points": ("googlefit:heart_points", "{points}", 1.0),
    "Average heart rate (bpm)": ("heart_rate", "/min", 1.0),
    "Average weight (kg)": ("body_mass", "kg", 1.0),
}
SLEEP_STAGES = {
    "sleep.light": "HKCategoryValueSleepAnalysisAsleepCore",
    "sleep.deep": "HKCategoryValueSleepAnalysisAsleepDeep",
    "sleep.rem": "HKCategoryValueSleepAnalysisAsleepREM",
    "sleep.awake": "HKCategoryValueSleepAnalysisAwake",
    "awake": "HKCategoryValueSleepAnalysisAwake",
    "sleep": "HKCategoryValueSleepAnalysisAsleepUnspecified",
}


class GoogleFitTakeoutImporter:
    """Reads the daily metrics CSVs and session JSON of Google Fit's Takeout."""

    format: ClassVar[str] = "google-fit-takeout"

    def sniff(self, head: bytes, filename: str) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf")
        if text.startswith(INTERVAL_HEADER) or text.startswith(SUMMARY_HEADER):
            first = text.split(b"\n", 1)[0]
            return b"Move Minutes count" in first or b"Step count" in first
        stripped = text.lstrip()
        return stripped.startswith(b"{") and b'"fitnessActivity"' in head and b'"startTime"' in head

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples of a day's file, or the workout or sleep of a session file.

        Raises:
            MalformedFile: a day's file not named for its day, a header without times, rows
                wider than the header, broken JSON, or (strictly) a row that cannot be read.
        """
        reader = peekable(fp)
        head = reader.peek(64).lstrip(b"\xef\xbb\xbf")
        if head.startswith(SUMMARY_HEADER):
            yield Warning_(
                "file",
                "daily totals without times; the per-day files of the same folder hold the same "
                "data in 15-minute intervals, and are what healthpod imports",
            )
            return
        if head.startswith(INTERVAL_HEADER):
            yield from _day(reader, filename, errors)
            return
        document = load_json(reader, filename)
        if not isinstance(document, dict):
            raise MalformedFile("a session file holds one JSON object.", source=filename, hint=HINT)
        yield from _session(document, filename)


def _day_of(filename: str) -> date:
    name = PurePosixPath(filename.replace("\\", "/").split(":")[-1]).name
    found = DAY_FILE.match(name)
    if found is None:
        raise MalformedFile(
            "a file of 15-minute rows is named for its day (2024-05-04.csv); this one is not, "
            "so its rows cannot be placed in time.",
            source=filename,
            hint="Import the file under the name Takeout gave it.",
        )
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError as exc:
        raise MalformedFile(f"the file name is not a date ({exc}).", source=filename) from exc


def _clock(day: date, text: str) -> tuple[int, int]:
    """`07:15:00.000+02:00` on `day` → (epoch ms, offset in minutes)."""
    try:
        when = datetime.fromisoformat(f"{day.isoformat()}T{text.strip()}")
    except ValueError:
        raise ValueError(f"time {text[:40]!r} is not like 07:15:00.000+02:00") from None
    offset = when.utcoffset()
    if offset is None:
        raise ValueError(f"time {text[:40]!r} has no offset")
    return int(when.timestamp() * 1000), int(offset.total_seconds() // 60)


def _day(fp: Any, filename: str, errors: ErrorHandling) -> Iterator[Item]:
    day = _day_of(filename)
    lines = TextLines(
        fp, filename, max_bytes=MAX_LINE_BYTES, too_long="; no Google Fit row is.", hint=HINT
    )
    rows = csv.reader(lines)
    try:
        header = [c.strip() for c in next(rows)]
        wanted = [(n, COLUMNS[c]) for n, c in enumerate(header) if c in COLUMNS]
        low = header.index("Min heart rate (bpm)") if "Min heart rate (bpm)" in header else None
        high = header.index("Max heart rate (bpm)") if "Max heart rate (bpm)" in header else None
        for cells in rows:
            where = f"line {lines.number}"
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                raise MalformedFile(
                    f"the row holds {len(cells)} values but the header names {len(header)} "
                    "columns; the header does not describe the rows, and nothing was imported.",
                    source=filename,
                    location=where,
                    hint=HINT,
                )
            try:
                yield from _quarter(day, cells, wanted, low, high)
            except ValueError as exc:
                if errors is ErrorHandling.RAISE:
                    raise MalformedFile(str(exc), source=filename, location=where) from exc
                if errors is ErrorHandling.WARN:
                    yield Warning_(where, f"{exc}; the row was skipped")
    except csv.Error as exc:
        raise MalformedFile(
            f"the CSV cannot be read ({exc})", source=filename, location=f"line {lines.number}"
        ) from exc


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]!r} is not a number")
    return value


def _quarter(
    day: date,
    cells: list[str],
    wanted: list[tuple[int, tuple[str, str, float]]],
    low: int | None,
    high: int | None,
) -> Iterator[Item]:
    if len(cells) < 2:
        raise ValueError("the row has no start and end time")
    start, offset = _clock(day, cells[0])
    end, _ = _clock(day, cells[1])
    if end <= start:  # the last quarter of the day ends at 00:00 of the next
        end += DAY_MS
    values = []
    for n, (code, unit, factor) in wanted:
        amount = _number(cells[n]) if n < len(cells) else None
        if amount is None or (amount == 0 and code != "body_mass"):
            continue
        meta = None
        if code == "heart_rate":
            meta = {
                "statistic": "average of the quarter hour",
                "minimum": _number(cells[low]) if low is not None and low < len(cells) else None,
                "maximum": _number(cells[high]) if high is not None and high < len(cells) else None,
            }
        values.append(
            Quantity(
                code,
                start,
                end,
                offset,
                offset,
                amount * factor,
                unit,
                SOURCE,
                meta=meta,
                known=not code.startswith("googlefit:"),
            )
        )
    yield from values


def _instant(value: Any, what: str, filename: str) -> tuple[int, int]:
    if not isinstance(value, str):
        raise MalformedFile(f"the session has no {what}.", source=filename, hint=HINT)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedFile(
            f"{what} {value[:40]!r} is not a time.", source=filename, hint=HINT
        ) from exc
    offset = when.utcoffset() or timedelta(0)
    return int(when.timestamp() * 1000), int(offset.total_seconds() // 60)


def _session(document: dict[str, Any], filename: str) -> Iterator[Item]:
    activity = str(document.get("fitnessActivity") or "unknown").lower()[:100]
    start, start_off = _instant(document.get("startTime"), "startTime", filename)
    end, end_off = _instant(document.get("endTime"), "endTime", filename)
    if end < start:
        raise MalformedFile("the session ends before it starts.", source=filename, hint=HINT)
    totals: dict[str, float] = {}
    for entry in document.get("aggregate") or []:
        if isinstance(entry, dict) and isinstance(entry.get("metricName"), str):
            value = entry.get("floatValue", entry.get("intValue"))
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[entry["metricName"]] = float(value)
    segments = [s for s in document.get("segment") or [] if isinstance(s, dict)]
    if activity.startswith("sleep"):
        yield CategoryValue(
            "sleep_analysis",
            start,
            end,
            start_off,
            end_off,
            "HKCategoryValueSleepAnalysisInBed",
            SOURCE,
        )
        stages = []
        for segment in segments:
            stage = SLEEP_STAGES.get(str(segment.get("fitnessActivity")).lower())
            if stage is None:
                continue
            b, b_off = _instant(segment.get("startTime"), "segment startTime", filename)
            f, _ = _instant(segment.get("endTime"), "segment endTime", filename)
            if f >= b:
                stages.append(CategoryValue("sleep_analysis", b, f, b_off, b_off, stage, SOURCE))
        yield from stages or [
            CategoryValue(
                "sleep_analysis", start, end, start_off, end_off, SLEEP_STAGES["sleep"], SOURCE
            )
        ]
        return
    distance = totals.get("com.google.distance.delta")
    energy = totals.get("com.google.calories.expended")
    meta = {
        k: v
        for k, v in totals.items()
        if k not in ("com.google.distance.delta", "com.google.calories.expended")
    }
    for key in ("name", "description"):
        if isinstance(document.get(key), str) and document[key]:
            meta[key] = document[key][:500]
    yield Workout(
        activity_type=activity,
        start_ms=start,
        end_ms=end,
        start_offset_min=start_off,
        end_offset_min=end_off,
        source=SOURCE,
        duration_s=_duration(document.get("duration")) or (end - start) / 1000,
        distance_km=None if distance is None else distance / 1000,
        energy_kcal=energy or None,
        meta=meta or None,
        events=[
            {
                "type": "segment",
                "activity": str(s.get("fitnessActivity")),
                "start": s.get("startTime"),
                "end": s.get("endTime"),
            }
            for s in segments
        ]
        or None,
    )


def _duration(text: Any) -> float | None:
    if isinstance(text, str) and text.endswith("s"):
        try:
            return float(text[:-1])
        except ValueError:
            return None
    return None


IMPORTER = GoogleFitTakeoutImporter()
