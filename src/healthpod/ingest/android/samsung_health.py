"""Samsung Health's "Download personal data": a folder (or zip) of one CSV per data type.

Each file starts with a line naming its data type (`com.samsung.shealth.tracker.heart_rate,
6313006,14`), then the header, whose columns may carry the type's prefix
(`com.samsung.health.heart_rate.start_time`) or not (`start_time`); rows often end with one
empty field more than the header names. Times are UTC (`2024-05-04 07:00:00.000`) and
`time_offset` gives the local offset (`UTC+0200`). A folder or zip is imported file by file,
as every export of one file per type is; files of data types healthpod does not read yet are
reported, not fatal.

A file whose first line names another data type than its file name, whose header lacks the
columns its type needs, or whose rows hold more values than its header names, is refused:
its header lies about what the rows are.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest.base import (
    CategoryValue,
    Correlation,
    ErrorHandling,
    Item,
    ProgressFn,
    Quantity,
    SourceRef,
    Warning_,
)
from healthpod.ingest.text_lines import TextLines
from healthpod.ingest.vendors.common import peekable

PREFIX = b"com.samsung."
MAX_LINE_BYTES = 256 * 1024
SOURCE = SourceRef(name="Samsung Health", kind="app", bundle_id="com.sec.android.app.shealth")
HINT = "Download your data again from Samsung Health (Settings → Download personal data)."
FILE_TYPE = re.compile(r"^(com\.samsung\.[a-z0-9_.]+?)\.\d{8,}\.csv$")
OFFSET = re.compile(r"^UTC([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True, slots=True)
class Field:
    column: str  # without the type's prefix
    type_code: str
    unit: str
    factor: float = 1.0


@dataclass(frozen=True, slots=True)
class DataType:
    """What one Samsung data type's file holds and becomes."""

    fields: tuple[Field, ...]
    interval: bool  # start_time and end_time, or start_time alone
    kind: str = "samples"  # samples|sleep|blood_pressure


DATA_TYPES: dict[str, DataType] = {
    "com.samsung.shealth.tracker.pedometer_step_count": DataType(
        (
            Field("count", "steps", "{steps}"),
            Field("distance", "distance_walking_running", "km", 0.001),
        ),
        interval=True,
    ),
    "com.samsung.shealth.tracker.heart_rate": DataType(
        (Field("heart_rate", "heart_rate", "/min"),), interval=False
    ),
    "com.samsung.shealth.tracker.oxygen_saturation": DataType(
        (Field("spo2", "oxygen_saturation", "%"),), interval=False
    ),
    "com.samsung.health.weight": DataType(
        (
            Field("weight", "body_mass", "kg"),
            Field("body_fat", "body_fat_percentage", "%"),
            Field("skeletal_muscle_mass", "samsung:skeletal_muscle_mass", "kg"),
        ),
        interval=False,
    ),
    "com.samsung.health.height": DataType((Field("height", "body_height", "cm"),), interval=False),
    "com.samsung.shealth.blood_pressure": DataType(
        (
            Field("systolic", "blood_pressure_systolic", "mm[Hg]"),
            Field("diastolic", "blood_pressure_diastolic", "mm[Hg]"),
        ),
        interval=False,
        kind="blood_pressure",
    ),
    "com.samsung.shealth.sleep": DataType((), interval=True, kind="sleep"),
}
DATA_TYPES["com.samsung.health.blood_pressure"] = DATA_TYPES["com.samsung.shealth.blood_pressure"]


class SamsungHealthImporter:
    """Reads one CSV of a Samsung Health personal data download."""

    format: ClassVar[str] = "samsung-health"

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
        return first.startswith(PREFIX) and b"," in first

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples of one data type's file.

        Raises:
            MalformedFile: a header that lies (see the module), a line over 256 KB, not UTF-8,
                or, under ErrorHandling.RAISE, a row that cannot be read.
        """
        lines = TextLines(
            peekable(fp),
            filename,
            max_bytes=MAX_LINE_BYTES,
            too_long="; no Samsung Health row is.",
            hint=HINT,
        )
        rows = csv.reader(lines)
        try:
            meta = next(rows, None)
            header = next(rows, None)
            if not meta or not header:
                raise MalformedFile(
                    "the file ends before its header line.", source=filename, hint=HINT
                )
            data_type = meta[0].strip().lstrip("\ufeff")
            _check_name(data_type, filename)
            spec = DATA_TYPES.get(data_type)
            if spec is None:
                yield Warning_(
                    "line 1", f"data type {data_type} is not imported yet; the file was passed over"
                )
                return
            columns = [c.strip().rsplit(".", 1)[-1] for c in header]
            positions = _positions(spec, columns, filename)
            for cells in rows:
                where = f"line {lines.number}"
                _check_width(cells, len(columns), filename, where)
                try:
                    yield from _row(spec, cells, positions)
                except ValueError as exc:
                    if errors is ErrorHandling.RAISE:
                        raise MalformedFile(str(exc), source=filename, location=where) from exc
                    if errors is ErrorHandling.WARN:
                        yield Warning_(where, f"{exc}; the row was skipped")
        except csv.Error as exc:
            raise MalformedFile(
                f"the CSV cannot be read ({exc})", source=filename, location=f"line {lines.number}"
            ) from exc


def _check_name(data_type: str, filename: str) -> None:
    if not data_type.startswith("com.samsung."):
        raise MalformedFile(
            f"the first line should name a Samsung Health data type, not {data_type[:80]!r}.",
            source=filename,
            location="line 1",
            hint=HINT,
        )
    named = FILE_TYPE.match(PurePosixPath(filename.replace("\\", "/")).name)
    if named and named.group(1) != data_type:
        raise MalformedFile(
            f"the first line says the file holds {data_type}, but the file is named for "
            f"{named.group(1)}; its header cannot be trusted, and nothing was imported.",
            source=filename,
            location="line 1",
            hint=HINT,
        )


def _positions(spec: DataType, columns: list[str], filename: str) -> dict[str, int]:
    needed = ["start_time", *(["end_time"] if spec.interval else [])]
    if spec.kind != "sleep":
        needed.append(spec.fields[0].column)
    missing = [c for c in needed if c not in columns]
    if missing:
        raise MalformedFile(
            f"the header has no {', '.join(missing)} column, which this data type always has; "
            "nothing was imported.",
            source=filename,
            location="line 2",
            hint=HINT,
        )
    return {name: n for n, name in enumerate(columns) if name}


def _check_width(cells: list[str], width: int, filename: str, where: str) -> None:
    extra = cells[width:]
    if any(cell.strip() for cell in extra):  # one empty field more is Samsung's trailing comma
        raise MalformedFile(
            f"the row holds {len(cells)} values but the header names {width} columns; the "
            "header does not describe the rows, and nothing was imported.",
            source=filename,
            location=where,
            hint=HINT,
        )


def _cell(cells: list[str], positions: dict[str, int], name: str) -> str:
    n = positions.get(name)
    return cells[n].strip() if n is not None and n < len(cells) else ""


def _time(text: str, what: str) -> int:
    try:
        when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        try:
            when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"{what} {text[:40]!r} is not a time") from None
    return int(when.replace(tzinfo=UTC).timestamp() * 1000)


def _offset(text: str) -> int:
    if not text:
        return 0
    found = OFFSET.match(text)
    if not found:
        raise ValueError(f"time_offset {text[:20]!r} is not like UTC+0200")
    sign = -1 if found.group(1) == "-" else 1
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    if minutes > 18 * 60:
        raise ValueError(f"time_offset {text!r} is beyond ±18 hours")
    return sign * minutes


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text[:40]!r} is not a number")
    return value


def _row(spec: DataType, cells: list[str], positions: dict[str, int]) -> Iterator[Item]:
    if not any(cell.strip() for cell in cells):
        return
    start = _time(_cell(cells, positions, "start_time"), "start_time")
    end = _time(_cell(cells, positions, "end_time"), "end_time") if spec.interval else start
    if end < start:
        raise ValueError("the row ends before it starts")
    offset = _offset(_cell(cells, positions, "time_offset"))
    device = _cell(cells, positions, "deviceuuid") or None
    meta: dict[str, Any] = {}
    package = _cell(cells, positions, "pkg_name")
    if package:
        meta["package"] = package
    if spec.kind == "sleep":
        for value in (
            "HKCategoryValueSleepAnalysisInBed",
            "HKCategoryValueSleepAnalysisAsleepUnspecified",
        ):
            yield CategoryValue(
                "sleep_analysis",
                start,
                end,
                offset,
                offset,
                value,
                SOURCE,
                device=device,
                meta=meta or None,
            )
        return
    samples = []
    for field in spec.fields:
        amount = _number(_cell(cells, positions, field.column), field.column)
        if amount is None:
            continue
        samples.append(
            Quantity(
                field.type_code,
                start,
                end,
                offset,
                offset,
                amount * field.factor,
                field.unit,
                SOURCE,
                device=device,
                meta=meta or None,
                known=not field.type_code.startswith("samsung:"),
            )
        )
    if spec.kind == "blood_pressure":
        if len(samples) == 2:
            yield Correlation(
                "blood_pressure", start, end, offset, offset, SOURCE, tuple(samples), device=device
            )
        return
    yield from samples


IMPORTER = SamsungHealthImporter()
