"""Apple Health's "Export All Health Data": export.zip or a bare export.xml, streamed.

Every element of the format across iOS versions becomes an item: `Record` (with
`MetadataEntry` and HRV beat lists), `Correlation` with its records, `Workout` (events,
statistics, routes by file reference or inline locations, iOS 16 `WorkoutActivity`),
`ActivitySummary`, `Me`, `ExportDate`; `ClinicalRecord` and route files become references.
An element healthpod does not know is kept under its own name and listed as unknown.

The parse uses lxml's target interface (callbacks, no tree), with entities, DTD loading and
network off; `safe_files.check_prologue` refuses entity declarations and external DTDs first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO, ClassVar

from lxml import etree

from healthpod.errors import MalformedFile, UnsupportedFormat
from healthpod.ingest import apple_dates, safe_files, units
from healthpod.ingest.apple_records import RecordColumns
from healthpod.ingest.base import (
    ActivitySummary,
    CategoryValue,
    Correlation,
    ErrorHandling,
    ExportInfo,
    Item,
    PersonInfo,
    ProgressFn,
    Quantity,
    Sample,
    SourceRef,
    Warning_,
    Workout,
)
from healthpod.vocabulary import BY_APPLE

FORMAT = "apple-health"
CHUNK = 256 * 1024
RECORD_BATCH = 10_000
NODE_BATCH = 50_000  # child elements (metadata, HRV beats) that also end a batch: memory
ROOT = "HealthData"
HINT = (
    "Export again from the Health app (Profile → Export All Health Data) and import the new file."
)

CORRELATION_CODES = {
    "HKCorrelationTypeIdentifierBloodPressure": "blood_pressure",
    "HKCorrelationTypeIdentifierFood": "food",
}
SEX = {
    "HKBiologicalSexMale": "male",
    "HKBiologicalSexFemale": "female",
    "HKBiologicalSexOther": "other",
}
BLOOD_TYPES = {
    "HKBloodTypeAPositive": "A+",
    "HKBloodTypeANegative": "A-",
    "HKBloodTypeBPositive": "B+",
    "HKBloodTypeBNegative": "B-",
    "HKBloodTypeABPositive": "AB+",
    "HKBloodTypeABNegative": "AB-",
    "HKBloodTypeOPositive": "O+",
    "HKBloodTypeONegative": "O-",
}

Node = list[Any]  # [tag, attrib, children or None]


class Problem(Exception):
    """One element cannot be read; becomes a warning or a MalformedFile by ErrorHandling."""


def number(text: str | None, what: str) -> float:
    """A number as any locale writes it: `72`, `0.95` and `0,95` alike; never NaN or infinite.

    Raises:
        Problem: not a number.
    """
    if text is None:
        raise Problem(f"has no {what}")
    try:
        value = float(text)
    except ValueError:
        if text.count(",") == 1 and "." not in text:
            try:
                value = float(text.replace(",", "."))
            except ValueError:
                raise Problem(f"has a {what} that is not a number: {text[:40]!r}") from None
        else:
            raise Problem(f"has a {what} that is not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise Problem(f"has a {what} that is not a finite number: {text[:40]!r}")
    return value


def instant(attrib: dict[str, str], name: str) -> tuple[int, int]:
    text = attrib.get(name)
    if text is None:
        raise Problem(f"has no {name}")
    try:
        return apple_dates.parse(text)
    except apple_dates.BadDate as exc:
        raise Problem(f"has a bad {name}: {exc}") from None


def optional_instant(attrib: dict[str, str], name: str) -> int | None:
    return instant(attrib, name)[0] if name in attrib else None


def node_json(node: Node) -> dict[str, Any]:
    """An element kept whole: its attributes as written, and its children the same way."""
    tag, attrib, children = node
    out: dict[str, Any] = {"element": tag, **attrib}
    if children:
        out["children"] = [node_json(child) for child in children]
    return out


def metadata(children: list[Node] | None) -> dict[str, Any] | None:
    """MetadataEntry key/value pairs as written, plus HRV beat lists, or None if there are none."""
    if not children:
        return None
    meta: dict[str, Any] = {}
    for tag, attrib, grandchildren in children:
        if tag == "MetadataEntry":
            meta[attrib.get("key", "")] = attrib.get("value", "")
        elif tag == "HeartRateVariabilityMetadataList":
            meta[tag] = [beat[1] for beat in grandchildren or ()]  # lxml's fresh dicts
    return meta or None


def snake(identifier: str, prefix: str) -> str:
    name = identifier.removeprefix(prefix)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class RecordType:
    """How records of one (HealthKit type, unit) pair become samples; looked up once per pair."""

    code: str
    kind: str  # quantity|category
    unit: str
    convert: units.Conversion
    known: bool


_record_types: dict[tuple[str, str | None], RecordType] = {}


def record_type(hk_type: str, unit: str | None) -> RecordType:
    key = (hk_type, unit)
    found = _record_types.get(key)
    if found is None:
        found = _record_types[key] = _resolve_type(hk_type, unit)
    return found


def _resolve_type(hk_type: str, unit: str | None) -> RecordType:
    known = BY_APPLE.get(hk_type)
    if known is not None and known.kind == "category":
        return RecordType(known.code, "category", "", units.IDENTITY, True)
    if known is not None and unit is not None:
        written = "{fraction}" if unit == "%" else unit  # HealthKit's % is a fraction
        try:
            return RecordType(
                known.code, "quantity", known.unit, units.converter(written, known.unit), True
            )
        except units.UnitMismatch:
            pass  # kept under the HealthKit identifier with its unit, never dropped
    is_category = hk_type.startswith("HKCategoryTypeIdentifier") or (
        unit is None and not hk_type.startswith("HKQuantityTypeIdentifier")
    )
    if is_category:
        return RecordType(hk_type, "category", "", units.IDENTITY, False)
    return RecordType(hk_type, "quantity", unit or "", units.IDENTITY, False)


def record(attrib: dict[str, str], children: list[Node] | None) -> Sample:
    """A `<Record>` as a sample.

    Raises:
        Problem: a required attribute is missing or unreadable.
    """
    hk_type = attrib.get("type")
    if not hk_type:
        raise Problem("has no type")
    source = attrib.get("sourceName")
    if source is None:
        raise Problem("has no sourceName")
    start_ms, start_off = instant(attrib, "startDate")
    end_ms, end_off = instant(attrib, "endDate")
    created = attrib.get("creationDate")
    created_ms = None if created is None else instant(attrib, "creationDate")[0]
    rtype = record_type(hk_type, attrib.get("unit"))
    value = attrib.get("value")
    meta = metadata(children)
    if rtype.kind == "quantity":
        return Quantity(
            rtype.code,
            start_ms,
            end_ms,
            start_off,
            end_off,
            rtype.convert(number(value, "value")),
            rtype.unit,
            SourceRef(source),
            attrib.get("sourceVersion"),
            attrib.get("device"),
            created_ms,
            meta,
            rtype.known,
        )
    if value is None:
        raise Problem("has no value")
    return CategoryValue(
        rtype.code,
        start_ms,
        end_ms,
        start_off,
        end_off,
        value,
        SourceRef(source),
        attrib.get("sourceVersion"),
        attrib.get("device"),
        created_ms,
        meta,
        rtype.known,
    )


def _in(attrib: dict[str, str], name: str, unit_attr: str, canonical: str) -> float | None:
    text = attrib.get(name)
    if text is None or text == "":
        return None
    value = number(text, name)
    written = attrib.get(unit_attr) or canonical
    try:
        return units.convert(value, written, canonical)
    except units.UnitMismatch:
        raise Problem(f"has {name} in {written!r}, which is not a unit of {canonical}") from None


def _statistic_sum(
    statistics: list[dict[str, Any]], prefixes: Sequence[str], canonical: str
) -> float | None:
    total = None
    for stat in statistics:
        if stat.get("type", "").startswith(tuple(prefixes)) and stat.get("sum"):
            value = _in(stat, "sum", "unit", canonical)
            if value is not None:
                total = value if total is None else total + value
    return total


def workout(attrib: dict[str, str], children: list[Node] | None) -> tuple[Workout, list[str]]:
    """A `<Workout>`, and the route files it refers to."""
    activity = attrib.get("workoutActivityType")
    source = attrib.get("sourceName")
    if not activity or source is None:
        raise Problem("has no workoutActivityType or sourceName")
    start_ms, start_off = instant(attrib, "startDate")
    end_ms, end_off = instant(attrib, "endDate")
    events: list[dict[str, Any]] = []
    statistics: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    files: list[str] = []
    for child in children or ():
        tag, child_attrib, grandchildren = child
        if tag == "WorkoutEvent":
            event = dict(child_attrib)
            if grandchildren:
                event["metadata"] = metadata(grandchildren)
            events.append(event)
        elif tag == "WorkoutStatistics":
            statistics.append(dict(child_attrib))
        elif tag == "WorkoutRoute":
            route: dict[str, Any] = dict(child_attrib)
            locations = []
            for tag2, attrib2, _ in grandchildren or ():
                if tag2 == "FileReference" and "path" in attrib2:
                    route["file"] = attrib2["path"]
                    files.append(attrib2["path"])
                elif tag2 == "Location":
                    locations.append(dict(attrib2))
            if locations:
                route["locations"] = locations
            route_meta = metadata(grandchildren)
            if route_meta:
                route["metadata"] = route_meta
            routes.append(route)
        elif tag != "MetadataEntry":
            extra.append(node_json(child))  # WorkoutActivity (iOS 16+) and anything newer
    duration_s = _in(attrib, "duration", "durationUnit", "s")
    distance = _in(attrib, "totalDistance", "totalDistanceUnit", "km")
    energy = _in(attrib, "totalEnergyBurned", "totalEnergyBurnedUnit", "kcal")
    if distance is None:  # iOS 16+ writes totals only as WorkoutStatistics
        distance = _statistic_sum(statistics, ("HKQuantityTypeIdentifierDistance",), "km")
    if energy is None:
        energy = _statistic_sum(statistics, ("HKQuantityTypeIdentifierActiveEnergyBurned",), "kcal")
    original: dict[str, Any] = dict(attrib)
    if extra:
        original["children"] = extra
    route_json: dict[str, Any] | None = None
    if routes:
        route_json = routes[0] if len(routes) == 1 else {**routes[0], "more": routes[1:]}
    item = Workout(
        snake(activity, "HKWorkoutActivityType"),
        start_ms,
        end_ms,
        start_off,
        end_off,
        SourceRef(source),
        duration_s,
        distance,
        energy,
        attrib.get("sourceVersion"),
        attrib.get("device"),
        optional_instant(attrib, "creationDate"),
        metadata(children),
        events or None,
        statistics or None,
        route_json,
        original,
    )
    return item, files


def activity_summary(attrib: dict[str, str]) -> ActivitySummary:
    day = attrib.get("dateComponents")
    if not day:
        raise Problem("has no dateComponents")
    try:
        date_on = apple_dates.parse_day(day)
    except apple_dates.BadDate as exc:
        raise Problem(f"has a bad dateComponents: {exc}") from None
    energy_unit = "activeEnergyBurnedUnit"
    return ActivitySummary(
        date_on,
        _in(attrib, "activeEnergyBurned", energy_unit, "kcal"),
        _in(attrib, "activeEnergyBurnedGoal", energy_unit, "kcal"),
        _in(attrib, "appleMoveTime", "appleMoveTimeUnit", "min"),
        _in(attrib, "appleMoveTimeGoal", "appleMoveTimeUnit", "min"),
        _in(attrib, "appleExerciseTime", "appleExerciseTimeUnit", "min"),
        _in(attrib, "appleExerciseTimeGoal", "appleExerciseTimeUnit", "min"),
        _in(attrib, "appleStandHours", "appleStandHoursUnit", "count"),
        _in(attrib, "appleStandHoursGoal", "appleStandHoursUnit", "count"),
        dict(attrib),
    )


def person_info(attrib: dict[str, str]) -> PersonInfo:
    birth = attrib.get("HKCharacteristicTypeIdentifierDateOfBirth")
    birth_date = None
    if birth:
        try:
            birth_date = apple_dates.parse_day(birth)
        except apple_dates.BadDate as exc:
            raise Problem(f"has a bad date of birth: {exc}") from None
    return PersonInfo(
        birth_date,
        SEX.get(attrib.get("HKCharacteristicTypeIdentifierBiologicalSex", "")),
        BLOOD_TYPES.get(attrib.get("HKCharacteristicTypeIdentifierBloodType", "")),
        dict(attrib),
    )


def correlation(attrib: dict[str, str], children: list[Node] | None, warn: Any) -> Correlation:
    hk_type = attrib.get("type")
    source = attrib.get("sourceName")
    if not hk_type or source is None:
        raise Problem("has no type or sourceName")
    start_ms, start_off = instant(attrib, "startDate")
    end_ms, end_off = instant(attrib, "endDate")
    samples = []
    for index, child in enumerate(children or ()):
        if child[0] == "Record":
            try:
                samples.append(record(child[1], child[2]))
            except Problem as exc:
                warn(f"its record {index + 1} {exc}")
    return Correlation(
        CORRELATION_CODES.get(hk_type, hk_type),
        start_ms,
        end_ms,
        start_off,
        end_off,
        SourceRef(source),
        tuple(samples),
        attrib.get("sourceVersion"),
        attrib.get("device"),
        optional_instant(attrib, "creationDate"),
        metadata(children),
    )


def unknown_element(node: Node) -> Item:
    """An element healthpod does not know yet: kept whole as a sample of its own type."""
    tag, attrib, _children = node
    code = attrib.get("type") or tag
    start = (
        "startDate" if "startDate" in attrib else "dateIssued" if "dateIssued" in attrib else None
    )
    if start is None or attrib.get("sourceName") is None:
        raise Problem("is an element healthpod does not know and has no startDate; skipped")
    start_ms, start_off = instant(attrib, start)
    end_ms, end_off = instant(attrib, "endDate") if "endDate" in attrib else (start_ms, start_off)
    return CategoryValue(
        code,
        start_ms,
        end_ms,
        start_off,
        end_off,
        tag,
        SourceRef(attrib["sourceName"]),
        attrib.get("sourceVersion"),
        attrib.get("device"),
        optional_instant(attrib, "creationDate"),
        node_json(node),
        False,
    )


class _Target:
    """lxml parser target: builds each top-level element as small lists, converts it at its end.

    The callbacks run for every element of the file, so they do as little as possible: a
    depth counter instead of a stack for the top level, and a top-level `<Record>` is only
    filed away for `RecordColumns` to convert in bulk.
    """

    def __init__(self, filename: str, errors: ErrorHandling) -> None:
        self.filename = filename
        self.errors = errors
        self.out: list[Item] = []
        self.depth = 0
        self.top_tag = ""
        self.top_attrib: dict[str, str] = {}
        self.top_children: list[Node] | None = None
        self.stack: list[Node] = []  # open elements below the top level
        self.count = 0  # top-level elements seen
        self.nodes = 0  # elements below the top level since the last batch
        self.records = RecordColumns()
        self.lines = 1  # lines fed to the parser so far (for "cut short" errors)
        self.saw_root = False

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth == 2:
            self.top_tag, self.top_attrib, self.top_children = tag, attrib, None
        elif depth > 2:
            self.nodes += 1
            node: Node = [tag, attrib, None]
            if depth == 3:
                if self.top_children is None:
                    self.top_children = [node]
                else:
                    self.top_children.append(node)
            else:
                parent = self.stack[-1]
                if parent[2] is None:
                    parent[2] = [node]
                else:
                    parent[2].append(node)
            self.stack.append(node)
        elif tag != ROOT:
            raise UnsupportedFormat(
                f"{self.filename}: this XML is not an Apple Health export "
                f"(its root element is <{tag}>, not <{ROOT}>).",
                hint=HINT,
            )
        else:
            self.saw_root = True

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 2:
            self.count += 1
            if tag == "Record":  # the hot path: almost every element of a large export
                records = self.records
                if self.top_children is not None:
                    records.children[len(records.attribs)] = self.top_children
                records.attribs.append(self.top_attrib)
                records.ordinals.append(self.count)
                if len(records.attribs) >= RECORD_BATCH or self.nodes >= NODE_BATCH:
                    self.flush_records()
            else:
                self.top_level([tag, self.top_attrib, self.top_children])
        elif depth > 2:
            self.stack.pop()

    def flush_records(self) -> None:
        """Convert the collected top-level records as one batch (plus any odd ones singly)."""
        if not len(self.records):
            return
        batch, singles = self.records.convert(record_type, metadata, self.one_record)
        self.records = RecordColumns()
        self.nodes = 0
        if len(batch):
            self.out.append(batch)
        self.out.extend(singles)

    def one_record(self, ordinal: int, attrib: dict[str, str], children: Any) -> Sample | None:
        try:
            return record(attrib, children)
        except Problem as exc:
            self.warn(f"a <Record> {exc}.", ["Record", attrib, children], ordinal)
            return None

    def close(self) -> None:
        # lxml calls this even when the parse failed; the syntax error is the better message,
        # so a file that merely ends too early is reported by `parse` after close() returns.
        pass

    def check_complete(self) -> None:
        if self.depth > 0:
            inside = self.stack[-1][0] if self.stack else self.top_tag if self.depth > 1 else ROOT
            raise MalformedFile(
                f"the file ends inside <{inside}>: it is cut short.",
                source=self.filename,
                location=f"line {self.lines}",
                hint=HINT,
            )

    def warn(self, message: str, node: Node | None = None, ordinal: int | None = None) -> None:
        where = self.location(node, self.count if ordinal is None else ordinal)
        if self.errors is ErrorHandling.RAISE:
            raise MalformedFile(message, source=self.filename, location=where, hint=HINT)
        if self.errors is ErrorHandling.WARN:
            self.out.append(Warning_(where, message))

    def location(self, node: Node | None, ordinal: int) -> str:
        if node is None:
            return f"element {ordinal:,}"
        attrib = node[1]
        ident = attrib.get("type") or attrib.get("workoutActivityType") or ""
        when = attrib.get("startDate") or attrib.get("dateComponents") or ""
        detail = " ".join(part for part in (ident, when) if part)
        return f"element {ordinal:,} (<{node[0]}{' ' + detail if detail else ''}>)"

    def top_level(self, node: Node) -> None:
        tag, attrib, children = node
        try:
            if tag == "Correlation":
                self.out.append(
                    correlation(attrib, children, lambda m: self.warn(f"a <Correlation> {m}", node))
                )
            elif tag == "Workout":
                item, files = workout(attrib, children)
                self.out.append(item)
                if files:
                    self.out.append(ExportInfo(references=tuple(files)))
            elif tag == "ActivitySummary":
                self.out.append(activity_summary(attrib))
            elif tag == "Me":
                self.out.append(person_info(attrib))
            elif tag == "ExportDate":
                value = attrib.get("value")
                if value:
                    self.out.append(ExportInfo(export_ms=instant(attrib, "value")[0]))
            elif tag == "ClinicalRecord":
                path = attrib.get("resourceFilePath")
                if path:
                    self.out.append(ExportInfo(references=(path,)))
            else:
                self.out.append(unknown_element(node))
        except Problem as exc:
            self.warn(f"a <{tag}> {exc}.", node)


class AppleHealthImporter:
    """Reads export.zip (the Health app's archive) or a bare export.xml."""

    format: ClassVar[str] = FORMAT
    parallel: ClassVar[bool] = True  # large exports are parsed in a second process

    def sniff(self, head: bytes, filename: str) -> bool:
        return b"<" + ROOT.encode() in head or b"HealthKit Export Version" in head

    def sniff_zip(self, names: Sequence[str]) -> bool:
        return pick_member(names) is not None

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the export's items, streaming; a zip is read member by member, never unpacked.

        Raises:
            MalformedFile: broken or hostile XML or zip; names the file and line.
            UnsupportedFormat: a zip without export.xml, or XML that is not a Health export.
        """
        if safe_files.peek(fp, 4).startswith(b"PK"):
            zf = safe_files.open_zip(filename, fp)
            names = safe_files.list_members(filename, zf)
            member = pick_member(names)
            if member is None:
                raise UnsupportedFormat(
                    f"{filename}: this zip archive is not an Apple Health export "
                    f"(it has no export.xml; it holds {describe_names(names)}).",
                    hint=HINT,
                )
            label = f"{filename}/{member}"
            with safe_files.open_member(filename, zf, member) as xml:
                yield from parse(xml, label, errors)
            yield from clinical_records(filename, zf, names, errors)
        else:
            yield from parse(fp, filename, errors)


def clinical_records(
    filename: str, zf: Any, names: Sequence[str], errors: ErrorHandling
) -> Iterator[Item]:
    """The FHIR resources of Health Records (`clinical-records/*.json`) in the archive."""
    from healthpod.ingest import fhir  # only here: it loads the FHIR models (memory, time)

    for name in names:
        path = PurePosixPath(name)
        if path.parent.name == "clinical-records" and path.suffix.lower() == ".json":
            with safe_files.open_member(filename, zf, name) as member:
                yield from fhir.read_member(member, member=f"{filename}/{name}", errors=errors)


def describe_names(names: Sequence[str]) -> str:
    if not names:
        return "no files"
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def pick_member(names: Sequence[str]) -> str | None:
    """The archive's export.xml (not export_cda.xml), at any depth."""
    candidates = [n for n in names if PurePosixPath(n).name.lower() == "export.xml"]
    if not candidates:
        return None
    return min(candidates, key=lambda n: n.count("/"))


def parse(fp: BinaryIO, filename: str, errors: ErrorHandling) -> Iterator[Item]:
    """Stream-parse export.xml from `fp`.

    Raises:
        MalformedFile: the XML is broken, hostile or cut short.
        UnsupportedFormat: it is not a Health export.
    """
    target = _Target(filename, errors)
    parser = safe_files.xml_parser(target=target)
    prologue = safe_files.PrologueGuard(filename)
    long_tokens = safe_files.LongTokenGuard(filename)
    try:
        while True:
            chunk = fp.read(CHUNK)
            if not chunk:
                break
            prologue.check(chunk)
            long_tokens.check(chunk)
            target.lines += chunk.count(b"\n")
            parser.feed(chunk)
            if target.out:
                yield from target.out
                target.out.clear()
        if not target.saw_root:
            raise UnsupportedFormat(
                f"{filename}: this is not an Apple Health export (no <{ROOT}> element).",
                hint=HINT,
            )
        try:
            parser.close()
        except etree.XMLSyntaxError as exc:
            if (getattr(exc, "lineno", 0) or 0) >= target.lines - 1:
                raise MalformedFile(
                    "the file ends in the middle of an element: it is cut short.",
                    source=filename,
                    location=f"line {target.lines}",
                    hint=HINT,
                ) from None
            raise
        target.check_complete()
        target.flush_records()
    except etree.XMLSyntaxError as exc:
        raise safe_files.syntax_error(filename, exc, hint=HINT) from None
    yield from target.out
    target.out.clear()


IMPORTER = AppleHealthImporter()
