"""Apple Health export elements, one by one: a `<Record>`, `<Workout>`, `<Me>`… as items.

These functions take an element's attributes (and its children as small `[tag, attrib,
children]` lists) and return our items, or raise `Problem` saying what is wrong with it; the
parser in `export` decides whether that is a warning or an error. Top-level records of
a large export take the faster batch route in `record_batches`, which falls back to `record`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from healthpod.ingest import units
from healthpod.ingest.apple import dates
from healthpod.ingest.base import (
    ActivitySummary,
    CategoryValue,
    Correlation,
    Item,
    PersonInfo,
    Quantity,
    Sample,
    SourceRef,
    Workout,
)
from healthpod.vocabulary import BY_APPLE

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
        return dates.parse(text)
    except dates.BadDate as exc:
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
        date_on = dates.parse_day(day)
    except dates.BadDate as exc:
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
            birth_date = dates.parse_day(birth)
        except dates.BadDate as exc:
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
