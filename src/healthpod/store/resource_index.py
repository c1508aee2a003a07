"""What the store indexes of a FHIR resource: its consent category, status, clinical date and codes.

Pure functions over the resource's JSON, shared by every path that writes resources (imports
and the FHIR API), so a resource is found the same way whoever wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from healthpod.vocabulary import BY_LOINC, Category, resource_category

LOINC = "http://loinc.org"
BLOOD_PRESSURE_PANELS = frozenset({"85354-9", "55284-4"})  # R4 vital-signs profile, Synthea

# FHIR date, dateTime and instant, at any precision (and search values without seconds).
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?P<frac>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """The instants a FHIR date covers: "2012" is the whole year. Both ends inclusive, UTC ms."""

    start_ms: int
    end_ms: int
    offset_min: int  # the offset the value was written with; 0 without one


def date_range(text: str) -> DateRange | None:
    """The range `text` (a FHIR date, dateTime or instant) covers, or None if it is not one.

    A value without a time zone is read as UTC.
    """
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    g = match.groupdict()
    try:
        tz = _zone(g["tz"])
        year = int(g["y"])
        if g["mo"] is None:
            start = datetime(year, 1, 1, tzinfo=tz)
            end = datetime(year + 1, 1, 1, tzinfo=tz) if year < 9999 else None
        elif g["d"] is None:
            month = int(g["mo"])
            start = datetime(year, month, 1, tzinfo=tz)
            end = _next_month(start)
        elif g["h"] is None:
            start = datetime(year, int(g["mo"]), int(g["d"]), tzinfo=tz)
            end = start + timedelta(days=1)
        else:
            start = datetime(year, int(g["mo"]), int(g["d"]), int(g["h"]), int(g["mi"]), tzinfo=tz)
            if g["s"] is None:
                end = start + timedelta(minutes=1)
            else:
                second = int(g["s"])
                if second == 60:  # a leap second: the last instant of that minute
                    second = 59
                start = start.replace(second=second)
                frac = g["frac"]
                if frac:
                    start = start.replace(microsecond=int((frac[1:] + "000000")[:6]))
                    end = start + timedelta(milliseconds=1)
                else:
                    end = start + timedelta(seconds=1)
    except (ValueError, OverflowError):
        return None
    start_ms = _ms(start)
    end_ms = (_ms(end) - 1) if end is not None else start_ms + 366 * 86_400_000
    offset = tz.utcoffset(None)
    offset_min = 0 if offset is None else int(offset.total_seconds() // 60)
    return DateRange(start_ms, max(end_ms, start_ms), offset_min)


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _next_month(start: datetime) -> datetime | None:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1) if start.year < 9999 else None
    return start.replace(month=start.month + 1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact, unlike float timestamps


# The element(s) holding each type's clinical date, first found wins; "x" names take [x] forms.
_DATE_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Observation": ("effective[x]", "issued"),
    "Condition": ("onset[x]", "recordedDate"),
    "Procedure": ("performed[x]",),
    "Immunization": ("occurrence[x]", "recorded"),
    "AllergyIntolerance": ("recordedDate", "onset[x]"),
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("effective[x]", "dateAsserted"),
    "MedicationAdministration": ("effective[x]",),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
    "DiagnosticReport": ("effective[x]", "issued"),
    "Encounter": ("period",),
    "DocumentReference": ("date",),
    "Composition": ("date",),
    "QuestionnaireResponse": ("authored",),
    "CarePlan": ("period", "created"),
    "CareTeam": ("period",),
    "Goal": ("start[x]",),
    "ImagingStudy": ("started",),
    "ServiceRequest": ("occurrence[x]", "authoredOn"),
    "Claim": ("billablePeriod", "created"),
    "ExplanationOfBenefit": ("billablePeriod", "created"),
    "Consent": ("dateTime",),
    "Provenance": ("recorded",),
    "AuditEvent": ("recorded",),
    "Specimen": ("collection.collected[x]", "receivedTime"),
    "FamilyMemberHistory": ("date",),
    "ClinicalImpression": ("effective[x]", "date"),
    "RiskAssessment": ("occurrence[x]",),
    "Appointment": ("start",),
}
_CHOICE_SUFFIXES = ("DateTime", "Instant", "Period", "Date", "")

# The element FHIR's `code` search parameter reads, per type.
_CODE_ELEMENTS: dict[str, str] = {
    "Observation": "code",
    "Condition": "code",
    "Procedure": "code",
    "AllergyIntolerance": "code",
    "DiagnosticReport": "code",
    "ServiceRequest": "code",
    "Medication": "code",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationStatement": "medicationCodeableConcept",
    "MedicationAdministration": "medicationCodeableConcept",
    "MedicationDispense": "medicationCodeableConcept",
    "Immunization": "vaccineCode",
    "Encounter": "type",
    "DocumentReference": "type",
    "Composition": "type",
    "FamilyMemberHistory": "relationship",
    "Device": "type",
    "Goal": "description",
}

_OBSERVATION_CATEGORIES: dict[str, Category] = {
    "laboratory": Category.LAB_RESULTS,
    "activity": Category.ACTIVITY,
    "survey": Category.QUESTIONNAIRES,
    "procedure": Category.PROCEDURES,
    "imaging": Category.PROCEDURES,
}


@dataclass(frozen=True, slots=True)
class TokenValue:
    param: str  # code|category|component-code|identifier
    system: str | None
    code: str


def clinical_date(resource: dict[str, Any]) -> DateRange | None:
    """The resource's clinical date range (what `date` searches and consent windows use)."""
    for element in _DATE_ELEMENTS.get(str(resource.get("resourceType")), ()):
        found = _date_of(resource, element)
        if found is not None:
            return found
    return None


def date_of_element(resource: dict[str, Any], element: str) -> DateRange | None:
    """The date range of one element (`effective[x]`, `period`, …) of a resource."""
    return _date_of(resource, element)


def _date_of(node: dict[str, Any], element: str) -> DateRange | None:
    head, _, rest = element.partition(".")
    if rest:
        child = node.get(head)
        return _date_of(child, rest) if isinstance(child, dict) else None
    names = [head[:-3] + suffix for suffix in _CHOICE_SUFFIXES] if head.endswith("[x]") else [head]
    for name in names:
        value = node.get(name)
        if isinstance(value, str):
            found = date_range(value)
            if found is not None:
                return found
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            return _period(value)
    return None


def _period(period: dict[str, Any]) -> DateRange | None:
    start = date_range(period["start"]) if isinstance(period.get("start"), str) else None
    end = date_range(period["end"]) if isinstance(period.get("end"), str) else None
    if start is None and end is None:
        return None
    first = start or end
    last = end or start
    assert first is not None and last is not None
    return DateRange(first.start_ms, max(last.end_ms, first.start_ms), first.offset_min)


def status_of(resource: dict[str, Any]) -> str | None:
    """`status`, or the first clinicalStatus code for types that have no `status`."""
    status = resource.get("status")
    if isinstance(status, str):
        return status[:40]
    for coding in _codings(resource.get("clinicalStatus")):
        code = coding.get("code")
        if isinstance(code, str):
            return code[:40]
    return None


def category_of(resource: dict[str, Any]) -> Category:
    """The consent category a person grants this resource under."""
    resource_type = str(resource.get("resourceType"))
    if resource_type != "Observation":
        return resource_category(resource_type)
    for coding in _codings(resource.get("code")):
        if coding.get("system") == LOINC:
            code = coding.get("code")
            if code in BLOOD_PRESSURE_PANELS:
                return Category.BLOOD_PRESSURE
            known = BY_LOINC.get(str(code))
            if known is not None:
                return known.category
    for token in _category_tokens(resource.get("category")):
        found = _OBSERVATION_CATEGORIES.get(token.code)
        if found is not None:
            return found
    return Category.OTHER_RECORDS


def tokens_of(resource: dict[str, Any]) -> Iterator[TokenValue]:
    """The token values to index: the `code` element's codings, categories, component codes
    and identifiers."""
    element = _CODE_ELEMENTS.get(str(resource.get("resourceType")))
    seen: set[TokenValue] = set()
    values: list[TokenValue] = []
    if element is not None:
        values.extend(_concept_tokens("code", resource.get(element)))
    values.extend(_category_tokens(resource.get("category")))
    for component in _as_list(resource.get("component")):
        if isinstance(component, dict):
            values.extend(_concept_tokens("component-code", component.get("code")))
    for identifier in _as_list(resource.get("identifier")):
        value = identifier.get("value") if isinstance(identifier, dict) else None
        if isinstance(value, str) and value:
            system = identifier.get("system")
            values.append(
                TokenValue(
                    "identifier", system[:500] if isinstance(system, str) else None, value[:200]
                )
            )
    for value in values:
        if value not in seen:
            seen.add(value)
            yield value


def _category_tokens(value: Any) -> Iterator[TokenValue]:
    for item in _as_list(value):
        if isinstance(item, str):  # AllergyIntolerance.category is a list of codes
            yield TokenValue("category", None, item[:200])
        else:
            yield from _concept_tokens("category", item)


def _concept_tokens(param: str, value: Any) -> Iterator[TokenValue]:
    for concept in _as_list(value):
        for coding in _codings(concept):
            code = coding.get("code")
            system = coding.get("system")
            if isinstance(code, str) and code:
                yield TokenValue(
                    param, system[:500] if isinstance(system, str) else None, code[:200]
                )


def _codings(concept: Any) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        for coding in _as_list(concept.get("coding")):
            if isinstance(coding, dict):
                yield coding


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
