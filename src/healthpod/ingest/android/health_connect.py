"""Health Connect's "Export data" (Android 14 and later): a zip holding its SQLite database.

The importer takes the zip (`health_connect_export.zip`, whose one member is
`health_connect_export.db`) or the database itself. The database is copied to a temporary file
and opened as `hc_database` describes (read-only, immutable, its schema checked, no SQL of the
file run). Each record table `hc_schema` knows becomes our samples, correlations and workouts:

- times are Health Connect's epoch milliseconds (UTC) with each record's own zone offset;
- the source is the app that wrote the record (`application_info_table`: "Samsung Health",
  "Fit"), so that source priority and de-duplication work across Apple and Android; the device
  (`device_info_table`) goes into the device line;
- heart rate, speed, power and cadence series give one sample per point; blood pressure and
  nutrition records become correlations, as Apple's are; sleep sessions give an in-bed span
  and their stages; exercise sessions become workouts with segments and laps as events and
  the route as points.

Tables of record types healthpod does not read yet are reported in a warning, not fatal.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar

from healthpod.errors import MalformedFile
from healthpod.ingest import safe_files
from healthpod.ingest.android import hc_schema as hc
from healthpod.ingest.android.hc_database import (
    HINT,
    NOT_HEALTH_CONNECT,
    HealthConnectDatabase,
    open_database,
    quoted,
)
from healthpod.ingest.base import (
    CategoryValue,
    Correlation,
    ErrorHandling,
    Item,
    ProgressFn,
    Quantity,
    SampleBatch,
    SampleKey,
    SourceRef,
    Warning_,
    Workout,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH_ROWS = 10_000
DATABASE_MEMBER = "health_connect_export.db"
COPY_CHUNK = 1024 * 1024
MAX_OFFSET_S = 18 * 3600  # java.time.ZoneOffset's range
LATEST_MS = 4_102_444_800_000  # 2100-01-01: a later time is not a measurement
NOT_SET = 1e-300  # Health Connect writes Double.MIN_VALUE (5e-324) for a nutrient not given


class BadRow(ValueError):
    """One record that cannot be read (its message says why)."""


class HealthConnectImporter:
    """Reads Health Connect's exported database, zipped or not."""

    format: ClassVar[str] = "health-connect"

    def sniff(self, head: bytes, filename: str) -> bool:
        return head.startswith(SQLITE_MAGIC)

    def sniff_zip(self, names: list[str]) -> bool:
        return any(PurePosixPath(name).name == DATABASE_MEMBER for name in names)

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the records of every table healthpod knows, table by table.

        Raises:
            MalformedFile: not a Health Connect export, or one refused by `open_database`
                (triggers, views, an attached database, a value over 1 MB, a wrong schema).
        """
        with tempfile.TemporaryDirectory(prefix="healthpod-hc-") as tmp:
            copy = Path(tmp) / "health_connect.db"
            label = copy_database(fp, filename, copy)
            with open_database(copy, label) as db:
                yield from Reader(db, errors).items()


def copy_database(fp: BinaryIO, filename: str, copy: Path) -> str:
    """Copy the database (from the zip, or the file itself) to `copy`; return its label.

    Raises:
        MalformedFile: a zip without the database, a hostile zip, or not an SQLite file.
    """
    head = safe_files.peek(fp, len(SQLITE_MAGIC))
    label = filename
    if head.startswith(b"PK"):
        zf = safe_files.open_zip(filename, fp)
        names = [
            n
            for n in safe_files.list_members(filename, zf)
            if PurePosixPath(n).name == DATABASE_MEMBER
        ]
        if not names:
            raise MalformedFile(
                f"the archive holds no {DATABASE_MEMBER}.", source=filename, hint=NOT_HEALTH_CONNECT
            )
        name = min(names, key=lambda n: n.count("/"))
        label = f"{filename}, member {name}"
        with safe_files.open_member(filename, zf, name) as member, copy.open("wb") as out:
            shutil.copyfileobj(member, out, COPY_CHUNK)
    else:
        with copy.open("wb") as out:
            shutil.copyfileobj(fp, out, COPY_CHUNK)
    with copy.open("rb") as check:
        if check.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise MalformedFile(
                "this is not an SQLite database.", source=label, hint=NOT_HEALTH_CONNECT
            )
    return label


def _time(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < LATEST_MS:
        raise BadRow(f"{what} {value!r} is not a time in epoch milliseconds")
    return value


def _offset(value: Any) -> int:
    """Health Connect's zone offset (seconds east of UTC) in minutes; absent is +00:00."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_OFFSET_S:
        raise BadRow(f"zone offset {value!r} is not a number of seconds within ±18 hours")
    return value // 60


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRow(f"{what} {value!r} is not a number")
    return float(value)


class Reader:
    """Turns the tables of one checked database into items."""

    def __init__(self, db: HealthConnectDatabase, errors: ErrorHandling) -> None:
        self.db = db
        self.errors = errors
        self.sources: dict[int, SourceRef] = {}
        self.devices: dict[int, str] = {}
        self.fallback = SourceRef(name="Health Connect", kind="app")

    # -- the whole database -------------------------------------------------------------
    def items(self) -> Iterator[Item]:
        self._load_apps()
        yield from self._unknown_tables()
        for measurement in hc.MEASUREMENTS:
            yield from self._measurements(measurement)
        for series in hc.SERIES:
            yield from self._series(series)
        for coded in hc.CODED:
            yield from self._coded(coded)
        yield from self._blood_pressure()
        yield from self._nutrition()
        yield from self._sleep()
        yield from self._exercise()

    def _load_apps(self) -> None:
        db = self.db
        for row_id, package, name in db.rows(db.select(hc.APP_TABLE, hc.APP_COLUMNS), hc.APP_TABLE):
            label = name if isinstance(name, str) and name.strip() else package
            if isinstance(row_id, int) and isinstance(label, str) and label.strip():
                bundle = package if isinstance(package, str) else None
                self.sources[row_id] = SourceRef(name=label.strip(), kind="app", bundle_id=bundle)
        if db.has(hc.DEVICE_TABLE, *hc.DEVICE_COLUMNS):
            sql = db.select(hc.DEVICE_TABLE, hc.DEVICE_COLUMNS)
            for row_id, maker, model, kind in db.rows(sql, hc.DEVICE_TABLE):
                words = [w.strip() for w in (maker, model) if isinstance(w, str) and w.strip()]
                if isinstance(kind, int) and kind in hc.DEVICE_TYPES:
                    words.append(f"({hc.DEVICE_TYPES[kind]})")
                if isinstance(row_id, int) and words:
                    self.devices[row_id] = " ".join(words)

    def _unknown_tables(self) -> Iterator[Item]:
        known = hc.record_tables() | hc.SERVICE_TABLES
        for table in sorted(self.db.columns):
            if table in known or table.startswith("sqlite_"):
                continue
            counting = f"SELECT count(*) FROM {quoted(table)}"  # noqa: S608 - a name it has
            count = next(self.db.rows(counting, table))[0]
            if table.endswith(("_record_table", "RecordTable")):
                records = "1 record" if count == 1 else f"{count} records"
                message = f"{records} of a type healthpod does not import yet left out"
            else:
                message = (
                    f"a table that is not a Health Connect record type ({count} rows) was ignored"
                )
            yield Warning_(f"table {table}", message)

    # -- helpers ------------------------------------------------------------------------
    def _problem(self, where: str, exc: Exception) -> Iterator[Item]:
        if self.errors is ErrorHandling.RAISE:
            raise MalformedFile(f"{exc}", source=self.db.filename, location=where, hint=HINT)
        if self.errors is ErrorHandling.WARN:
            yield Warning_(where, f"{exc}; skipped")

    def _source(self, app_id: Any) -> SourceRef:
        return self.sources.get(app_id, self.fallback) if isinstance(app_id, int) else self.fallback

    def _device(self, device_id: Any) -> str | None:
        return self.devices.get(device_id) if isinstance(device_id, int) else None

    def _span(self, row: tuple[Any, ...], instant: bool) -> tuple[int, int, int, int]:
        """start, end, start offset, end offset of a record row after RECORD_COLUMNS."""
        if instant:
            t = _time(row[3], "time")
            offset = _offset(row[4])
            return t, t, offset, offset
        start, end = _time(row[3], "start_time"), _time(row[5], "end_time")
        if end < start:
            raise BadRow("the record ends before it starts")
        return start, end, _offset(row[4]), _offset(row[6])

    def _columns(self, table: str, instant: bool, extra: tuple[str, ...]) -> list[str] | None:
        """The columns to read from `table`, or None when the export has no such table."""
        if table not in self.db.columns:
            return None
        time_columns = hc.INSTANT_COLUMNS if instant else hc.INTERVAL_COLUMNS
        columns = [*hc.RECORD_COLUMNS, *time_columns, *extra]
        self.db.require(table, columns)
        return columns

    def _rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        return self.db.rows(self.db.select(table, columns), f"table {table}")

    # -- record kinds -------------------------------------------------------------------
    def _measurements(self, spec: hc.Measurement) -> Iterator[Item]:
        meta_columns = tuple(c for c in spec.meta if self.db.has(spec.table, c))
        values = tuple(v.column for v in spec.values)
        columns = self._columns(spec.table, spec.instant, values + meta_columns)
        if columns is None:
            return
        first_meta = len(columns) - len(meta_columns)
        batches = [Batch(v) for v in spec.values]
        for row in self._rows(spec.table, columns):
            try:
                start, end, start_off, end_off = self._span(row, spec.instant)
                meta = {
                    c: v
                    for c, v in zip(meta_columns, row[first_meta:], strict=True)
                    if v is not None
                }
                meta_text = json.dumps(meta, sort_keys=True) if meta else None
                found = []
                for n, value in enumerate(spec.values):
                    raw = row[first_meta - len(values) + n]
                    if raw is not None:
                        found.append((batches[n], _number(raw, value.column) * value.factor))
            except BadRow as exc:
                yield from self._problem(f"table {spec.table}, row {row[0]}", exc)
                continue
            source, device = self._source(row[1]), self._device(row[2])
            for batch, amount in found:
                batch.add(start, end, start_off, end_off, amount, source, device, meta_text)
                if batch.full():
                    yield batch.take()
        for batch in batches:
            if batch:
                yield batch.take()

    def _series(self, spec: hc.Series) -> Iterator[Item]:
        db = self.db
        if spec.table not in db.columns and spec.samples not in db.columns:
            return
        db.require(spec.table, [*hc.RECORD_COLUMNS, *hc.INTERVAL_COLUMNS])
        db.require(spec.samples, ["parent_key", "epoch_millis", spec.value.column])
        # names from hc_schema, never from the file
        sql = (
            "SELECT p.row_id, p.app_info_id, p.device_info_id, p.start_zone_offset, "  # noqa: S608
            f"s.epoch_millis, s.{quoted(spec.value.column)} "
            f"FROM {quoted(spec.samples)} AS s JOIN {quoted(spec.table)} AS p "
            "ON s.parent_key = p.row_id ORDER BY s.parent_key, s.epoch_millis"
        )
        value = spec.value
        batch = Batch(value)
        for record, app, device, offset, t, raw in db.rows(sql, f"table {spec.samples}"):
            try:
                when, offset_min = _time(t, "epoch_millis"), _offset(offset)
                amount = _number(raw, value.column) * value.factor
            except BadRow as exc:
                yield from self._problem(f"table {spec.samples}, record {record}", exc)
                continue
            batch.add(
                when,
                when,
                offset_min,
                offset_min,
                amount,
                self._source(app),
                self._device(device),
                None,
            )
            if batch.full():
                yield batch.take()
        if batch:
            yield batch.take()

    def _coded(self, spec: hc.Coded) -> Iterator[Item]:
        meta_columns = tuple(c for c in spec.meta if self.db.has(spec.table, c))
        coded = (spec.column,) if spec.column else ()
        columns = self._columns(spec.table, spec.instant, coded + meta_columns)
        if columns is None:
            return
        first_meta = len(columns) - len(meta_columns)
        for row in self._rows(spec.table, columns):
            try:
                start, end, start_off, end_off = self._span(row, spec.instant)
                meta: dict[str, Any] = {
                    c: v
                    for c, v in zip(meta_columns, row[first_meta:], strict=True)
                    if v is not None
                }
                value = spec.default
                if spec.column:
                    code = row[first_meta - 1]
                    value = spec.codes.get(code, spec.default) if isinstance(code, int) else value
                    meta[f"health_connect_{spec.column}"] = code
                yield CategoryValue(
                    type_code=spec.type_code,
                    start_ms=start,
                    end_ms=end,
                    start_offset_min=start_off,
                    end_offset_min=end_off,
                    value_code=value,
                    source=self._source(row[1]),
                    device=self._device(row[2]),
                    meta=meta or None,
                )
            except BadRow as exc:
                yield from self._problem(f"table {spec.table}, row {row[0]}", exc)

    def _blood_pressure(self) -> Iterator[Item]:
        table = hc.BLOOD_PRESSURE_TABLE
        columns = self._columns(table, True, hc.BLOOD_PRESSURE_COLUMNS)
        if columns is None:
            return
        for row in self._rows(table, columns):
            try:
                t, _, offset, _ = self._span(row, True)
                systolic, diastolic, position, location = row[5:9]
                source, device = self._source(row[1]), self._device(row[2])
                meta = {"body_position": position, "measurement_location": location}
                samples = tuple(
                    Quantity(
                        code,
                        t,
                        t,
                        offset,
                        offset,
                        _number(v, code),
                        "mm[Hg]",
                        source,
                        device=device,
                    )
                    for code, v in (
                        ("blood_pressure_systolic", systolic),
                        ("blood_pressure_diastolic", diastolic),
                    )
                )
                yield Correlation(
                    "blood_pressure",
                    t,
                    t,
                    offset,
                    offset,
                    source,
                    samples,
                    device=device,
                    meta=meta,
                )
            except BadRow as exc:
                yield from self._problem(f"table {table}, row {row[0]}", exc)

    def _nutrition(self) -> Iterator[Item]:
        table = hc.NUTRITION_TABLE
        if table not in self.db.columns:
            return
        nutrients = [c for c in hc.NUTRIENTS if self.db.has(table, c)]
        meta_columns = tuple(c for c in hc.NUTRITION_META if self.db.has(table, c))
        columns = self._columns(table, False, (*nutrients, *meta_columns))
        assert columns is not None
        first = len(hc.RECORD_COLUMNS) + len(hc.INTERVAL_COLUMNS)
        for row in self._rows(table, columns):
            try:
                start, end, start_off, end_off = self._span(row, False)
                source, device = self._source(row[1]), self._device(row[2])
                samples = []
                for column, raw in zip(nutrients, row[first:], strict=False):
                    if raw is None or (isinstance(raw, int | float) and abs(raw) < NOT_SET):
                        continue
                    code, unit, factor = hc.NUTRIENTS[column]
                    amount = _number(raw, column) * factor
                    samples.append(
                        Quantity(
                            code,
                            start,
                            end,
                            start_off,
                            end_off,
                            amount,
                            unit,
                            source,
                            device=device,
                        )
                    )
                meta = {
                    c: v
                    for c, v in zip(meta_columns, row[first + len(nutrients) :], strict=True)
                    if v is not None
                }
                if samples:
                    yield Correlation(
                        "food",
                        start,
                        end,
                        start_off,
                        end_off,
                        source,
                        tuple(samples),
                        device=device,
                        meta=meta or None,
                    )
            except BadRow as exc:
                yield from self._problem(f"table {table}, row {row[0]}", exc)

    def _children(self, table: str, columns: tuple[str, ...]) -> Children:
        if table not in self.db.columns:
            return Children(iter(()))
        self.db.require(table, columns)
        names = ", ".join(quoted(c) for c in columns)  # names from hc_schema, never the file
        sql = (
            f"SELECT {names} FROM {quoted(table)} WHERE typeof(parent_key) = 'integer' "  # noqa: S608
            f"ORDER BY parent_key, {quoted(columns[1])}"
        )
        return Children(self.db.rows(sql, f"table {table}"))

    def _sleep(self) -> Iterator[Item]:
        table = hc.SLEEP_TABLE
        columns = self._columns(table, False, ())
        if columns is None:
            return
        stages = self._children(hc.SLEEP_STAGES_TABLE, hc.SLEEP_STAGE_COLUMNS)
        for row in self._rows(table, columns):
            children = stages.take(row[0])
            try:
                yield from self._night(row, children)
            except BadRow as exc:
                yield from self._problem(f"table {table}, row {row[0]}", exc)

    def _night(self, row: tuple[Any, ...], stages: list[tuple[Any, ...]]) -> Iterator[Item]:
        """A sleep session: in bed over its span, then its stages (or asleep, without any)."""
        start, end, start_off, end_off = self._span(row, False)
        source, device = self._source(row[1]), self._device(row[2])
        spans = [(start, end, hc.IN_BED)]
        known = [s for s in stages if s[3] in hc.SLEEP_STAGES]
        if not known:
            spans.append((start, end, hc.ASLEEP))
        for _, begin, finish, stage in known:
            b, f = _time(begin, "stage_start_time"), _time(finish, "stage_end_time")
            if f >= b:
                spans.append((b, f, hc.SLEEP_STAGES[stage]))
        for b, f, value in spans:
            yield CategoryValue(
                "sleep_analysis", b, f, start_off, end_off, value, source, device=device
            )

    def _exercise(self) -> Iterator[Item]:
        table = hc.EXERCISE_TABLE
        extra = tuple(c for c in hc.EXERCISE_COLUMNS if self.db.has(table, c))
        columns = self._columns(table, False, extra)
        if columns is None:
            return
        segments = self._children(hc.SEGMENTS_TABLE, hc.SEGMENT_COLUMNS)
        laps = self._children(hc.LAPS_TABLE, hc.LAP_COLUMNS)
        route = self._children(hc.ROUTE_TABLE, hc.ROUTE_COLUMNS)
        for row in self._rows(table, columns):
            parts = (segments.take(row[0]), laps.take(row[0]), route.take(row[0]))
            try:
                yield self._workout(row, dict(zip(extra, row[7:], strict=True)), *parts)
            except BadRow as exc:
                yield from self._problem(f"table {table}, row {row[0]}", exc)

    def _workout(
        self,
        row: tuple[Any, ...],
        extra: dict[str, Any],
        segments: list[tuple[Any, ...]],
        laps: list[tuple[Any, ...]],
        route: list[tuple[Any, ...]],
    ) -> Workout:
        start, end, start_off, end_off = self._span(row, False)
        kind = extra.get("exercise_type")
        activity = (
            hc.EXERCISE_TYPES.get(kind, f"healthconnect:{kind}")
            if isinstance(kind, int)
            else "unknown"
        )
        events: list[dict[str, Any]] = []
        for _, begin, finish, segment_type, repetitions in segments:
            event = {
                "type": "segment",
                "start_ms": _time(begin, "segment_start_time"),
                "end_ms": _time(finish, "segment_end_time"),
                "health_connect_segment_type": segment_type,
            }
            if isinstance(repetitions, int) and repetitions > 0:
                event["repetitions"] = repetitions
            events.append(event)
        for _, begin, finish, length in laps:
            event = {
                "type": "lap",
                "start_ms": _time(begin, "lap_start_time"),
                "end_ms": _time(finish, "lap_end_time"),
            }
            if isinstance(length, int | float) and length > 0:
                event["distance_m"] = float(length)
            events.append(event)
        points = []
        for _, t, lat, lon, alt in route:
            latitude, longitude = _number(lat, "latitude"), _number(lon, "longitude")
            if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
                raise BadRow(f"route point ({latitude}, {longitude}) is not on Earth")
            point: dict[str, Any] = {
                "t_ms": _time(t, "timestamp_millis"),
                "lat": round(latitude, 7),
                "lon": round(longitude, 7),
            }
            if isinstance(alt, int | float) and math.isfinite(alt):
                point["alt_m"] = round(float(alt), 2)
            points.append(point)
        meta = {k: v for k, v in extra.items() if v is not None and k != "exercise_type"}
        meta["health_connect_exercise_type"] = kind
        return Workout(
            activity_type=activity,
            start_ms=start,
            end_ms=end,
            start_offset_min=start_off,
            end_offset_min=end_off,
            source=self._source(row[1]),
            duration_s=(end - start) / 1000,
            device=self._device(row[2]),
            meta=meta,
            events=events or None,
            route={"format": "points", "points": points} if points else None,
        )


class Batch:
    """Samples of one type gathered as columns, handed out as a `SampleBatch` (the fast path
    to the store: one insert per batch, not a row object per sample)."""

    def __init__(self, value: hc.Value) -> None:
        self.key = SampleKey(value.type_code, "quantity", value.unit, value.known)
        self._clear()

    def _clear(self) -> None:
        self.start_ms: list[int] = []
        self.end_ms: list[int] = []
        self.start_offset_min: list[int] = []
        self.end_offset_min: list[int] = []
        self.values: list[float] = []
        self.source_index: list[int] = []
        self.device_index: list[int] = []
        self.meta: list[str | None] = []
        self.sources: dict[str, int] = {}
        self.devices: dict[str | None, int] = {}

    def __bool__(self) -> bool:
        return bool(self.values)

    def add(
        self,
        start: int,
        end: int,
        start_off: int,
        end_off: int,
        value: float,
        source: SourceRef,
        device: str | None,
        meta: str | None,
    ) -> None:
        self.start_ms.append(start)
        self.end_ms.append(end)
        self.start_offset_min.append(start_off)
        self.end_offset_min.append(end_off)
        self.values.append(value)
        self.source_index.append(self.sources.setdefault(source.name, len(self.sources)))
        self.device_index.append(self.devices.setdefault(device, len(self.devices)))
        self.meta.append(meta)

    def full(self) -> bool:
        return len(self.values) >= BATCH_ROWS

    def take(self) -> SampleBatch:
        n = len(self.values)
        batch = SampleBatch(
            keys=[self.key],
            key_index=[0] * n,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            start_offset_min=self.start_offset_min,
            end_offset_min=self.end_offset_min,
            values=self.values,
            sources=list(self.sources),
            source_index=self.source_index,
            versions=[None],
            version_index=[0] * n,
            devices=list(self.devices),
            device_index=self.device_index,
            created_ms=[None] * n,
            meta=self.meta,
        )
        self._clear()
        return batch


class Children:
    """Rows of a child table in `parent_key` order, handed out parent by parent."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take(self, parent: int) -> list[tuple[Any, ...]]:
        """The rows of `parent`; rows of parents before it (orphans) are passed over."""
        found: list[tuple[Any, ...]] = []
        while self._next is not None and self._next[0] < parent:
            self._next = next(self._rows, None)
        while self._next is not None and self._next[0] == parent:
            found.append(self._next)
            self._next = next(self._rows, None)
        return found


IMPORTER = HealthConnectImporter()
