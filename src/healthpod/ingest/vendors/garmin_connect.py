"""Garmin Connect's account export ("Export your data"): daily summaries, sleep and FIT files.

The export is a zip (`DI_CONNECT/…`) imported file by file, like every export of many files;
this importer reads the files of it that hold the person's data:

- `DI-Connect-Aggregator/UDSFile_*.json`: a list of daily summaries; each day's steps,
  distance, active and resting energy and floors over the day as Garmin counts it
  (`wellnessStartTimeGmt` to `wellnessEndTimeGmt`, the local offset from the local times),
  and its resting heart rate;
- `DI-Connect-Wellness/*_sleepData.json`: each night in bed (`sleepStartTimestampGMT` to
  `sleepEndTimestampGMT`), the seconds in each stage in metadata (the export has no stage
  times);
- `DI-Connect-Uploaded-Files/UploadedFiles_*.zip`: a zip inside the zip, of the FIT files the
  watch uploaded, each read by the FIT importer (a damaged one is reported and the others
  imported).

The source is `Garmin Connect` for the summaries; a FIT file's source is its device.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest import safe_files
from healthpod.ingest.base import (
    CategoryValue,
    ErrorHandling,
    Item,
    ProgressFn,
    Quantity,
    SourceRef,
    Warning_,
)
from healthpod.ingest.fit.fit_files import IMPORTER as FIT
from healthpod.ingest.vendors.common import load_json, peekable

SOURCE = SourceRef(name="Garmin Connect", kind="app")
HINT = "Request the export again from your Garmin account (Data Management → Export Your Data)."
MAX_JSON_BYTES = 64 * 1024 * 1024
COPY_CHUNK = 1024 * 1024
DAY_FIELDS = (
    ("totalSteps", "steps", "{steps}", 1.0),
    ("totalDistanceMeters", "distance_walking_running", "km", 0.001),
    ("activeKilocalories", "active_energy", "kcal", 1.0),
    ("bmrKilocalories", "basal_energy", "kcal", 1.0),
    ("floorsAscended", "flights_climbed", "{flights}", 1.0),
)


def _is_uploaded_files(filename: str) -> bool:
    return "uploadedfiles" in PurePosixPath(filename.replace("\\", "/")).name.lower()


class GarminConnectImporter:
    """Reads the daily summaries, sleep and uploaded FIT files of a Garmin Connect export."""

    format: ClassVar[str] = "garmin-connect"

    def sniff(self, head: bytes, filename: str) -> bool:
        if head.startswith(b"PK\x03\x04"):
            return _is_uploaded_files(filename)
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped.startswith(b"["):
            return False
        daily = b'"calendarDate"' in head and b'"wellnessStartTimeGmt"' in head
        return daily or b'"sleepStartTimestampGMT"' in head

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the file's days, nights or FIT files' items.

        Raises:
            MalformedFile: JSON that is not a list, a hostile inner zip, or (strictly) a day,
                night or FIT file that cannot be read.
        """
        reader = peekable(fp)
        if reader.peek(4).startswith(b"PK"):
            yield from _uploaded_files(reader, filename, errors)
            return
        document = load_json(reader, filename, max_bytes=MAX_JSON_BYTES)
        if not isinstance(document, list):
            raise MalformedFile("the file should hold a JSON list.", source=filename, hint=HINT)
        for n, entry in enumerate(document):
            where = f"entry {n}"
            try:
                if not isinstance(entry, dict):
                    raise ValueError("the entry is not an object")
                if "sleepStartTimestampGMT" in entry:
                    yield from _night(entry)
                else:
                    yield from _day(entry)
            except ValueError as exc:
                if errors is ErrorHandling.RAISE:
                    raise MalformedFile(str(exc), source=filename, location=where) from exc
                if errors is ErrorHandling.WARN:
                    yield Warning_(where, f"{exc}; skipped")


def _stamp(value: Any, what: str) -> int:
    """Garmin's "2023-05-25T22:00:00.0" (or epoch ms) → epoch ms, read as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing")
    try:
        when = datetime.fromisoformat(value.rstrip("Z"))
    except ValueError:
        raise ValueError(f"{what} {value[:40]!r} is not a time") from None
    return int(when.replace(tzinfo=UTC).timestamp() * 1000)


def _day(entry: dict[str, Any]) -> Iterator[Item]:
    start = _stamp(entry.get("wellnessStartTimeGmt"), "wellnessStartTimeGmt")
    end = _stamp(entry.get("wellnessEndTimeGmt"), "wellnessEndTimeGmt")
    local = _stamp(entry.get("wellnessStartTimeLocal"), "wellnessStartTimeLocal")
    offset = round((local - start) / 60_000)
    if end < start or abs(offset) > 18 * 60:
        raise ValueError("the day's times do not make a day")
    meta = {"calendar_date": entry.get("calendarDate")}
    for field, code, unit, factor in DAY_FIELDS:
        value = entry.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            yield Quantity(
                code, start, end, offset, offset, value * factor, unit, SOURCE, meta=meta
            )
    resting = entry.get("restingHeartRate")
    if isinstance(resting, int | float) and not isinstance(resting, bool) and resting > 0:
        yield Quantity(
            "resting_heart_rate",
            start,
            end,
            offset,
            offset,
            float(resting),
            "/min",
            SOURCE,
            meta=meta,
        )


def _night(entry: dict[str, Any]) -> Iterator[Item]:
    start = _stamp(entry.get("sleepStartTimestampGMT"), "sleepStartTimestampGMT")
    end = _stamp(entry.get("sleepEndTimestampGMT"), "sleepEndTimestampGMT")
    if end <= start:
        raise ValueError("the night ends before it starts")
    meta = {
        key: entry[key]
        for key in (
            "calendarDate",
            "deepSleepSeconds",
            "lightSleepSeconds",
            "remSleepSeconds",
            "awakeSleepSeconds",
        )
        if entry.get(key) is not None
    }
    yield CategoryValue(
        "sleep_analysis",
        start,
        end,
        0,
        0,
        "HKCategoryValueSleepAnalysisInBed",
        SOURCE,
        meta=meta or None,
    )


def _uploaded_files(fp: BinaryIO, filename: str, errors: ErrorHandling) -> Iterator[Item]:
    """The FIT files of the zip inside the export, each through the FIT importer."""
    with tempfile.TemporaryDirectory(prefix="healthpod-garmin-") as tmp:
        copy = Path(tmp) / "uploaded.zip"
        with copy.open("wb") as out:
            shutil.copyfileobj(fp, out, COPY_CHUNK)
        with copy.open("rb") as raw:
            zf = safe_files.open_zip(filename, raw)
            names = [n for n in safe_files.list_members(filename, zf) if n.lower().endswith(".fit")]
            if not names:
                yield Warning_("file", "the zip holds no FIT files")
            for name in names:
                label = f"{filename}/{name}"
                try:
                    with safe_files.open_member(filename, zf, name) as member:
                        items = list(FIT.read(member, filename=label, errors=errors))
                except MalformedFile as exc:
                    if errors is ErrorHandling.RAISE:
                        raise
                    if errors is ErrorHandling.WARN:
                        yield Warning_(name, f"the FIT file was not imported: {exc.message}")
                    continue
                yield from items


IMPORTER = GarminConnectImporter()
