"""CSV files from scales, cuffs and apps, read through a mapping profile (a small TOML file).

A profile says which column holds the time (its format and zone), which columns hold which of
our types and in what unit, and what to call the source. healthpod ships profiles for exports
it has evidence of (`ingest/csv/shipped_profiles/*.toml`, recognised by their header); a person
writes their own for anything else and passes it with
`healthpod import FILE --profile my-scale.toml`. The format is described in docs/import-devices.md.

Rows are streamed; a row that does not parse is reported by its line number (a warning and the
row skipped, or under `ErrorHandling.RAISE` the file refused).
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import IO, Any, BinaryIO, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthpod.errors import MalformedFile
from healthpod.ingest import units
from healthpod.ingest.base import (
    Correlation,
    ErrorHandling,
    Item,
    ProgressFn,
    Quantity,
    SourceRef,
    Warning_,
)
from healthpod.ingest.text_lines import TextLines
from healthpod.ingest.vendors.common import offset_minutes, peekable
from healthpod.vocabulary import sample_type

MAX_LINE_BYTES = 1024 * 1024
MISSING = ("", "-", "--", "n/a", "na", "null", "none")
PRESSURE = ("blood_pressure_systolic", "blood_pressure_diastolic")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    column: str
    type_code: str
    unit: str  # as written in the file
    canonical: str  # the type's unit (the written one for a producer type)
    known: bool


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: SourceRef
    time_columns: tuple[str, ...]
    time_formats: tuple[str, ...]
    timezone: str
    columns: tuple[ColumnMap, ...]
    match: tuple[str, ...] = ()
    delimiter: str | None = None
    decimal: str = "."
    encoding: str = "utf-8-sig"
    skip_lines: int = 0
    comment_column: str | None = None
    note: str | None = None
    origin: str = ""  # the profile file, for error messages


def load_profile(path: Path) -> Profile:
    """Read and check a profile file.

    Raises:
        MalformedFile: not TOML, or a key missing or wrong (names the key).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedFile(f"the profile cannot be read ({exc})", source=path.name) from exc
    except tomllib.TOMLDecodeError as exc:
        raise MalformedFile(
            f"the profile is not valid TOML ({exc})",
            source=path.name,
            hint="See docs/import-devices.md for the profile format.",
        ) from exc
    return parse_profile(document, origin=path.name)


def parse_profile(document: dict[str, Any], *, origin: str) -> Profile:
    """A `Profile` from parsed TOML.

    Raises:
        MalformedFile: a key missing or of the wrong kind, an unknown type, a unit that does not
            fit its type; names the key.
    """

    def fail(key: str, message: str) -> MalformedFile:
        return MalformedFile(
            message,
            source=origin,
            location=f"key {key}",
            hint="See docs/import-devices.md for the profile format.",
        )

    def text(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise fail(where, f"`{where}` must be a non-empty string")
        return value

    def texts(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise fail(where, f"`{where}` must be a string or a list of strings")
        return tuple(value)

    time = document.get("time")
    if not isinstance(time, dict):
        raise fail("time", "the profile needs a [time] table (column, format, timezone)")
    zone = text(time, "timezone", "time.timezone", "UTC")
    if _zone_problem(zone):
        raise fail("time.timezone", f"{zone!r} is not 'local', 'UTC', an offset or an IANA zone")
    columns = document.get("columns")
    if not isinstance(columns, list) or not columns:
        raise fail("columns", "the profile needs at least one [[columns]] entry")
    maps = []
    for n, entry in enumerate(columns):
        where = f"columns[{n}]"
        if not isinstance(entry, dict):
            raise fail(where, f"`{where}` must be a table")
        type_code = text(entry, "type", f"{where}.type")
        unit = text(entry, "unit", f"{where}.unit", "")
        known_type = sample_type(type_code)
        if known_type is None and ":" not in type_code:
            raise fail(
                f"{where}.type",
                f"{type_code!r} is not a healthpod type; use a known code (docs/vocabulary.md) "
                "or a name with a prefix such as 'myscale:visceral_fat'",
            )
        canonical = known_type.unit if known_type is not None else unit
        if known_type is not None and known_type.kind != "quantity":
            raise fail(f"{where}.type", f"{type_code!r} is not a measured quantity")
        try:
            units.converter(unit, canonical)
        except units.UnitMismatch as exc:
            raise fail(f"{where}.unit", f"unit {unit!r} does not fit {type_code!r}: {exc}") from exc
        maps.append(
            ColumnMap(
                column=text(entry, "column", f"{where}.column"),
                type_code=type_code,
                unit=unit,
                canonical=canonical,
                known=known_type is not None,
            )
        )
    csv_options = document.get("csv", {})
    if not isinstance(csv_options, dict):
        raise fail("csv", "`csv` must be a table")
    delimiter = csv_options.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise fail("csv.delimiter", "`csv.delimiter` must be one character")
    decimal = csv_options.get("decimal", ".")
    if decimal not in (".", ","):
        raise fail("csv.decimal", "`csv.decimal` must be '.' or ','")
    skip = csv_options.get("skip_lines", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip <= 100:
        raise fail("csv.skip_lines", "`csv.skip_lines` must be a whole number from 0 to 100")
    match = document.get("match", {})
    return Profile(
        name=text(document, "name", "name"),
        source=SourceRef(
            name=text(document, "source", "source"),
            kind=text(document, "source_kind", "source_kind", "device"),
        ),
        time_columns=texts(time, "column", "time.column"),
        time_formats=texts(time, "format", "time.format") if "format" in time else ("iso",),
        timezone=zone,
        columns=tuple(maps),
        match=texts(match, "header", "match.header") if match else (),
        delimiter=delimiter,
        decimal=decimal,
        encoding=text(csv_options, "encoding", "csv.encoding", "utf-8-sig"),
        skip_lines=skip,
        comment_column=document.get("comment_column"),
        note=document.get("note"),
        origin=origin,
    )


def _zone_problem(zone: str) -> bool:
    if zone in ("local", "UTC") or offset_minutes(zone) is not None:
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return True
    return False


def shipped_profiles() -> list[Profile]:
    """The profiles that come with healthpod, by file name."""
    folder = resources.files("healthpod.ingest.csv") / "shipped_profiles"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            document = tomllib.loads(entry.read_text(encoding="utf-8"))
            found.append(parse_profile(document, origin=f"profiles/{entry.name}"))
    return found


def _header(head: bytes, profile: Profile) -> list[str] | None:
    try:
        text = head.decode(profile.encoding, errors="replace")
    except LookupError:
        return None
    lines = text.splitlines()
    if len(lines) <= profile.skip_lines:
        return None
    line = lines[profile.skip_lines]
    delimiter = profile.delimiter or _guess_delimiter(line)
    return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter), [])]


def _guess_delimiter(line: str) -> str:
    return max((",", ";", "\t"), key=line.count)


class ProfileImporter:
    """Reads a CSV file with one given profile (`healthpod import FILE --profile P.toml`)."""

    format: ClassVar[str] = "csv"

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def sniff(self, head: bytes, filename: str) -> bool:
        header = _header(head, self.profile)
        return header is not None and set(self.profile.match) <= set(header)

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples of every row.

        Raises:
            MalformedFile: the header lacks a mapped column, the text cannot be decoded, or
                (under `ErrorHandling.RAISE`) a row does not parse; names the line.
        """
        yield from read_rows(self.profile, fp, filename=filename, errors=errors)


class ShippedProfilesImporter:
    """Reads CSV files whose header matches one of the profiles healthpod ships."""

    format: ClassVar[str] = "csv"

    def __init__(self) -> None:
        self._profiles: list[Profile] | None = None

    @property
    def profiles(self) -> list[Profile]:
        if self._profiles is None:
            self._profiles = shipped_profiles()
        return self._profiles

    def _match(self, head: bytes) -> Profile | None:
        for profile in self.profiles:
            header = _header(head, profile)
            if header is not None and profile.match and set(profile.match) <= set(header):
                return profile
        return None

    def sniff(self, head: bytes, filename: str) -> bool:
        return self._match(head) is not None

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the samples of a CSV file in a shipped profile's shape.

        Raises:
            MalformedFile: no shipped profile fits (pass --profile), or as `ProfileImporter`.
        """
        reader = peekable(fp)
        profile = self._match(reader.peek(64 * 1024))
        if profile is None:
            names = ", ".join(p.name for p in self.profiles)
            raise MalformedFile(
                "no profile healthpod ships fits this CSV header",
                source=filename,
                location="line 1",
                hint=f"Shipped profiles: {names}. Write your own and pass --profile FILE "
                "(see docs/import-devices.md).",
            )
        yield Warning_("file", f"read with the profile {profile.name!r} ({profile.origin})")
        yield from read_rows(profile, reader, filename=filename, errors=errors)


def read_rows(
    profile: Profile, fp: IO[bytes], *, filename: str, errors: ErrorHandling
) -> Iterator[Item]:
    """Stream the rows of `fp` through `profile`.

    Raises:
        MalformedFile: as `ProfileImporter.read`.
    """
    lines = TextLines(
        fp,
        filename,
        encoding=profile.encoding,
        max_bytes=MAX_LINE_BYTES,
        too_long="",
        hint="This does not look like a CSV export.",
        decode_hint="Set csv.encoding in the profile (for example 'latin-1').",
    )
    try:
        for _ in range(profile.skip_lines):
            next(lines, None)
        first = next(lines, "")
        delimiter = profile.delimiter or _guess_delimiter(first)
        header = [c.strip() for c in next(csv.reader([first], delimiter=delimiter), [])]
        positions, absent = _positions(profile, header, filename, lines.number)
        if profile.note:
            yield Warning_("file", profile.note)
        if absent:
            names = ", ".join(repr(a) for a in absent)
            yield Warning_(f"line {lines.number}", f"the file has no column(s) {names}")
        for cells in csv.reader(lines, delimiter=delimiter):
            if not any(c.strip() for c in cells):
                continue
            try:
                yield from _row(profile, positions, cells)
            except ValueError as exc:
                where = f"line {lines.number}"
                if errors is ErrorHandling.RAISE:
                    raise MalformedFile(str(exc), source=filename, location=where) from exc
                if errors is ErrorHandling.WARN:
                    yield Warning_(where, f"{exc}; the row was skipped")
    except csv.Error as exc:
        raise MalformedFile(
            f"the CSV cannot be read ({exc})", source=filename, location=f"line {lines.number}"
        ) from exc


@dataclass(frozen=True, slots=True)
class _Positions:
    time: tuple[int, ...]
    values: tuple[tuple[int, ColumnMap], ...]
    comment: int | None


def _positions(
    profile: Profile, header: list[str], filename: str, line: int
) -> tuple[_Positions, list[str]]:
    """Where the mapped columns are, and the value columns this file does not have.

    Raises:
        MalformedFile: a time column is missing, or every value column is.
    """
    index = {name: n for n, name in reversed(list(enumerate(header)))}
    missing_time = [name for name in profile.time_columns if name not in index]
    present = [c for c in profile.columns if c.column in index]
    if missing_time or not present:
        missing = missing_time or [c.column for c in profile.columns]
        raise MalformedFile(
            f"the header lacks the column(s) {', '.join(repr(m) for m in missing)} that the "
            f"profile {profile.name!r} reads",
            source=filename,
            location=f"line {line}",
            hint=f"The header has: {', '.join(repr(h) for h in header[:20])}. Fix the profile.",
        )
    positions = _Positions(
        time=tuple(index[c] for c in profile.time_columns),
        values=tuple((index[c.column], c) for c in present),
        comment=index.get(profile.comment_column) if profile.comment_column else None,
    )
    return positions, [c.column for c in profile.columns if c.column not in index]


def _cell(cells: list[str], position: int) -> str:
    return cells[position].strip() if position < len(cells) else ""


def _row(profile: Profile, positions: _Positions, cells: list[str]) -> Iterator[Item]:
    moment = " ".join(_cell(cells, p) for p in positions.time).strip()
    if moment.lower() in MISSING:
        raise ValueError(f"the time column {profile.time_columns[0]!r} is empty")
    start_ms, offset = parse_time(moment, profile)
    meta: dict[str, Any] = {"csv_profile": profile.name}
    if positions.comment is not None and _cell(cells, positions.comment):
        meta["comment"] = _cell(cells, positions.comment)
    found: list[Quantity] = []
    for position, mapping in positions.values:
        raw = _cell(cells, position)
        if raw.lower() in MISSING:
            continue
        number = raw.replace(" ", "").replace("\u00a0", "")
        if profile.decimal == ",":
            number = number.replace(".", "").replace(",", ".")
        try:
            value = float(number)
        except ValueError:
            raise ValueError(f"column {mapping.column!r}: {raw!r} is not a number") from None
        if mapping.unit != mapping.canonical:
            value = units.convert(value, mapping.unit, mapping.canonical)
        found.append(
            Quantity(
                type_code=mapping.type_code,
                start_ms=start_ms,
                end_ms=start_ms,
                start_offset_min=offset,
                end_offset_min=offset,
                value=value,
                unit=mapping.canonical,
                source=profile.source,
                meta=meta,
                known=mapping.known,
            )
        )
    pressure = [q for q in found if q.type_code in PRESSURE]
    if len(pressure) == 2:
        yield Correlation(
            type_code="blood_pressure",
            start_ms=start_ms,
            end_ms=start_ms,
            start_offset_min=offset,
            end_offset_min=offset,
            source=profile.source,
            samples=tuple(pressure),
            meta=meta,
        )
        found = [q for q in found if q not in pressure]
    yield from found


def parse_time(text: str, profile: Profile) -> tuple[int, int]:
    """(epoch ms, offset min) of a time cell, read with the profile's formats and zone.

    Raises:
        ValueError: no format fits; says which were tried.
    """
    for pattern in profile.time_formats:
        try:
            if pattern == "epoch_s":
                moment = datetime.fromtimestamp(float(text), UTC)
                return int(moment.timestamp() * 1000), _offset_at(moment, profile.timezone)
            if pattern == "epoch_ms":
                moment = datetime.fromtimestamp(float(text) / 1000, UTC)
                return int(float(text)), _offset_at(moment, profile.timezone)
            if pattern == "iso":
                moment = datetime.fromisoformat(text)
            else:
                moment = datetime.strptime(text, pattern)
        except (ValueError, OverflowError, OSError):
            continue
        if moment.tzinfo is not None:
            delta = moment.utcoffset()
            offset = int(delta.total_seconds() // 60) if delta is not None else 0
            return int(moment.timestamp() * 1000), offset
        aware = _localise(moment, profile.timezone)
        delta = aware.utcoffset()
        return int(aware.timestamp() * 1000), int(delta.total_seconds() // 60) if delta else 0
    tried = ", ".join(repr(p) for p in profile.time_formats)
    raise ValueError(f"time {text!r} does not match the format(s) {tried}")


def _localise(naive: datetime, zone: str) -> datetime:
    if zone == "local":
        return naive.astimezone()  # the zone of the computer that runs the import
    if zone == "UTC":
        return naive.replace(tzinfo=UTC)
    minutes = offset_minutes(zone)
    if minutes is not None:
        return naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    return naive.replace(tzinfo=ZoneInfo(zone))


def _offset_at(moment: datetime, zone: str) -> int:
    if zone == "local":
        delta = moment.astimezone().utcoffset()
    elif zone == "UTC":
        return 0
    elif (minutes := offset_minutes(zone)) is not None:
        return minutes
    else:
        delta = moment.astimezone(ZoneInfo(zone)).utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


IMPORTER = ShippedProfilesImporter()
