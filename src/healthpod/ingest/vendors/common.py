"""What the vendor importers (Fitbit, Withings, iHealth, Google Fit) share: reading bounded JSON
with errors that say where, and building samples for one source."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from healthpod.errors import MalformedFile
from healthpod.ingest.base import CategoryValue, Quantity, SourceRef

MAX_JSON_BYTES = 16 * 1024 * 1024  # API responses are far smaller; parsed JSON takes ~10x


def load_json(fp: BinaryIO, filename: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse one JSON document, refusing one larger than `max_bytes`.

    Raises:
        MalformedFile: not UTF-8 JSON (names line and column), or too large.
    """
    data = fp.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise MalformedFile(
            f"the JSON document is larger than {max_bytes // (1024 * 1024)} MB",
            source=filename,
            location=f"byte {max_bytes}",
            hint="Vendor files are small; this does not look like one. Split it or check it.",
        )
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            "the file is not UTF-8 text", source=filename, location=f"byte {exc.start}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise MalformedFile(
            f"not valid JSON: {exc.msg}",
            source=filename,
            location=f"line {exc.lineno}, column {exc.colno}",
            hint="The file may be cut short; download or export it again.",
        ) from exc
    except RecursionError as exc:
        raise MalformedFile("the JSON is nested too deeply", source=filename) from exc


def offset_minutes(text: str | int | float | None) -> int | None:
    """ "-0800", "+05:30", "-8" or -8 (hours) → minutes east of UTC; None if absent or odd."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return int(text * 60) if abs(text) <= 14 else None
    value = text.strip().replace(":", "")
    if not value:
        return None
    sign = -1 if value.startswith("-") else 1
    digits = value.lstrip("+-")
    if not digits.isdigit():
        return None
    minutes = int(digits) * 60 if len(digits) <= 2 else int(digits[:-2]) * 60 + int(digits[-2:])
    return sign * minutes if minutes <= 14 * 60 else None


def naive_local_ms(moment: datetime, offset_min: int) -> int:
    """Epoch ms of a wall-clock time written without a zone, at the given offset."""
    aware = moment.replace(tzinfo=UTC) - timedelta(minutes=offset_min)
    return int(aware.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Emitter:
    """Builds the items of one source."""

    source: SourceRef
    device: str | None = None

    def quantity(
        self,
        type_code: str,
        start_ms: int,
        end_ms: int,
        offset_min: int,
        value: float,
        unit: str,
        *,
        known: bool = True,
        meta: dict[str, Any] | None = None,
        created_ms: int | None = None,
        source: SourceRef | None = None,
    ) -> Quantity:
        return Quantity(
            type_code=type_code,
            start_ms=start_ms,
            end_ms=end_ms,
            start_offset_min=offset_min,
            end_offset_min=offset_min,
            value=float(value),
            unit=unit,
            source=source or self.source,
            device=self.device,
            created_ms=created_ms,
            meta=meta or None,
            known=known,
        )

    def category(
        self,
        type_code: str,
        start_ms: int,
        end_ms: int,
        offset_min: int,
        value_code: str,
        *,
        meta: dict[str, Any] | None = None,
        source: SourceRef | None = None,
    ) -> CategoryValue:
        return CategoryValue(
            type_code=type_code,
            start_ms=start_ms,
            end_ms=end_ms,
            start_offset_min=offset_min,
            end_offset_min=offset_min,
            value_code=value_code,
            source=source or self.source,
            device=self.device,
            meta=meta or None,
        )


def number(value: Any) -> float | None:
    """A JSON number, or a number written as a string ("4110"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _Raw(io.RawIOBase):
    """Any binary file as a raw stream, for a BufferedReader over it."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.fp.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def peekable(fp: BinaryIO) -> io.BufferedReader:
    """`fp` with `peek()`: zip members cannot seek back after a look at their first bytes."""
    return io.BufferedReader(_Raw(fp), buffer_size=64 * 1024)
