"""Records from healthcare: conditions, medications, immunizations, allergies, lab results.

Shown as a timeline and as lists per kind, each entry with where it came from (the file and,
when the file says, the organisation). The resources are read as stored (`resources` table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from healthpod.store import health_records
from healthpod.web import ecg
from healthpod.web.auth import PersonDep
from healthpod.web.i18n import N_
from healthpod.web.render import render

router = APIRouter(include_in_schema=False)

# The lists on the page, in order: (consent category, heading msgid).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("conditions", N_("Conditions")),
    ("medications", N_("Medications")),
    ("immunizations", N_("Immunizations")),
    ("allergies", N_("Allergies")),
    ("lab-results", N_("Lab results")),
    ("procedures", N_("Procedures")),
    ("encounters", N_("Visits")),
)
TIMELINE_SIZE = 40
LIST_SIZE = 100
SKIPPED_TYPES = (
    "Patient",
    "Practitioner",
    "Organization",
    "Claim",
    "ExplanationOfBenefit",
    "Location",
    "PractitionerRole",
    "Provenance",
    "Coverage",
)


@dataclass(frozen=True, slots=True)
class Record:
    resource_type: str
    category: str
    text: str
    value: str  # a coded or text value, or the unit of `number`
    number: float | None
    status: str
    start_ms: int | None
    source_file: str | None
    organisation: str | None
    provenance: str
    trace: str | None = None  # an ECG's first seconds as SVG polyline points


def _concept(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def describe(resource: dict[str, Any]) -> tuple[str, str, float | None]:
    """What a resource is about, and its value (an Observation's): text, or number and unit."""
    for key in ("code", "vaccineCode", "medicationCodeableConcept", "type"):
        found = resource.get(key)
        if isinstance(found, list):
            found = found[0] if found else None
        text = _concept(found)
        if text:
            break
    else:
        text = resource.get("resourceType", "")
    value, number = "", None
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        number = float(quantity["value"])
        value = str(quantity.get("unit") or quantity.get("code") or "")
    elif isinstance(resource.get("valueCodeableConcept"), dict):
        value = _concept(resource["valueCodeableConcept"])
    elif isinstance(resource.get("valueString"), str):
        value = resource["valueString"]
    return text, value, number


def _status(resource: dict[str, Any]) -> str:
    for key in ("clinicalStatus", "verificationStatus"):
        text = _concept(resource.get(key))
        if text:
            return text
    return str(resource.get("status") or "")


@router.get("/records")
def records(request: Request, person: PersonDep) -> Response:
    with person.data.reader() as read:
        timeline = [
            _record(row) for row in health_records.timeline(read, SKIPPED_TYPES, TIMELINE_SIZE)
        ]
        lists = {
            category: [
                _record(row)
                for row in health_records.of_category(read, category, SKIPPED_TYPES, LIST_SIZE)
            ]
            for category, _heading in SECTIONS
        }
    return render(
        request,
        "records.html",
        {"timeline": timeline, "sections": SECTIONS, "lists": lists},
    )


def _record(row: Any) -> Record:
    resource = row.json if isinstance(row.json, dict) else {}
    text, value, number = describe(resource)
    return Record(
        resource_type=str(row.resource_type),
        category=str(row.category),
        text=text,
        value=value,
        number=number,
        status=_status(resource),
        start_ms=row.effective_start_ms,
        source_file=row.source_file,
        organisation=row.organisation,
        provenance=str(row.provenance),
        trace=ecg.trace(resource),
    )
