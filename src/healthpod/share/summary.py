"""The International Patient Summary behind a share link (HL7 IPS IG, Composition-uv-ips).

    bundle, sent = summary.bundle(data, records, ids=pseudonyms.for_link(settings, link),
                                  base=..., now_ms=now)

A FHIR document Bundle: the Composition first, then the Patient, then every resource a
section lists (and the Medications and Specimens those reference). The three sections the IPS
requires (problems, allergies and intolerances, medication summary) are always there: with
their entries, or with an `emptyReason` and a narrative saying why they are empty
(`withheld` when the link does not share that category, `unavailable` when it does but the pod
holds nothing for it; never `nilknown`, a clinical judgement a pod cannot make). The other
sections appear only when they have entries. Every section has a generated XHTML narrative
listing its entries, and every reference the Composition makes is the `fullUrl` of an entry.

No id in it is the pod's: each resource's id is the link's pseudonym of it (`pseudonyms`), each
entry's fullUrl is `urn:uuid:` and that id, and every reference inside points at a fullUrl.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthpod.fhir import observation_search, render, resource_search, search
from healthpod.insights import summaries
from healthpod.share.pseudonyms import LinkIds
from healthpod.store.person_data import PersonData, Reader
from healthpod.vocabulary import RESOURCE_CATEGORIES, Category

PAGE = 1000
MAX_OBSERVATIONS = 20_000  # a summary, not an export: raw samples beyond this are left out
LOINC = "http://loinc.org"
XHTML = "http://www.w3.org/1999/xhtml"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
ACT_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActClass"
EMPTY_REASONS = {
    "withheld": "Information Withheld",
    "unavailable": "Unavailable",
}


@dataclass(frozen=True, slots=True)
class Section:
    """One IPS section: its LOINC code, title, and what it lists."""

    code: str
    display: str  # the LOINC display
    title: str
    required: bool  # always present, with an emptyReason when empty
    category: Category | None  # the share category that feeds it (for the empty reason)
    types: frozenset[str]  # resource types listed (Observations are placed by `_place`)
    nothing: str  # the narrative's words for an empty section


PROBLEMS = Section(
    code="11450-4",
    display="Problem list - Reported",
    title="Problem list",
    required=True,
    category=Category.CONDITIONS,
    types=frozenset({"Condition"}),
    nothing="problems",
)
ALLERGIES = Section(
    code="48765-2",
    display="Allergies and adverse reactions Document",
    title="Allergies and intolerances",
    required=True,
    category=Category.ALLERGIES,
    types=frozenset({"AllergyIntolerance"}),
    nothing="allergies or intolerances",
)
MEDICATIONS = Section(
    code="10160-0",
    display="History of Medication use Narrative",
    title="Medication summary",
    required=True,
    category=Category.MEDICATIONS,
    types=frozenset({"MedicationStatement", "MedicationRequest"}),
    nothing="medications",
)
IMMUNIZATIONS = Section(
    code="11369-6",
    display="History of Immunization Narrative",
    title="Immunizations",
    required=False,
    category=Category.IMMUNIZATIONS,
    types=frozenset({"Immunization"}),
    nothing="immunizations",
)
PROCEDURES = Section(
    code="47519-4",
    display="History of Procedures Document",
    title="History of procedures",
    required=False,
    category=Category.PROCEDURES,
    types=frozenset({"Procedure"}),
    nothing="procedures",
)
RESULTS = Section(
    code="30954-2",
    display="Relevant diagnostic tests/laboratory data Narrative",
    title="Results",
    required=False,
    category=Category.LAB_RESULTS,
    types=frozenset({"DiagnosticReport"}),
    nothing="results",
)
VITAL_SIGNS = Section(
    code="8716-3",
    display="Vital signs",
    title="Vital signs",
    required=False,
    category=None,
    types=frozenset(),
    nothing="vital signs",
)
# Lifestyle observations: activity, sleep, nutrition and other self-measured data.
SOCIAL_HISTORY = Section(
    code="29762-2",
    display="Social history Narrative",
    title="Social history",
    required=False,
    category=None,
    types=frozenset(),
    nothing="lifestyle observations",
)
SECTIONS: tuple[Section, ...] = (PROBLEMS, ALLERGIES, MEDICATIONS, IMMUNIZATIONS, PROCEDURES,
                                 RESULTS, VITAL_SIGNS, SOCIAL_HISTORY)  # fmt: skip
REQUIRED = tuple(s for s in SECTIONS if s.required)
# Resources a section entry may reference, in the Bundle only when one does.
SUPPORTING = frozenset({"Medication", "Specimen"})


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def bundle(
    data: PersonData, records: PersonData | None, *, ids: LinkIds, base: str, now_ms: int
) -> tuple[dict[str, Any], list[str]]:
    """The IPS document Bundle of what `data` (and `records`: a daily link's records from
    healthcare) show, its resources named by the link's pseudonyms `ids`, and the pod's own
    references of what it holds, for the access log."""
    if data.scope.daily_only:
        with data.writer() as write:
            summaries.catch_up(write)
    found: list[dict[str, Any]] = []
    with data.reader() as read:
        identity = read.identity()
        assert identity is not None
        patient = _patient(render.patient(identity))
        found += _observations(read)
    for reader in (data,) if records is None else (data, records):
        with reader.reader() as read:
            if reader is records:
                found += _observations(read)  # Observations from healthcare
            found += _records(read)
    fhir = f"{base}/fhir"

    def ref_of(resource: dict[str, Any]) -> str:
        return f"{resource['resourceType']}/{resource['id']}"

    placed: dict[str, list[dict[str, Any]]] = {s.code: [] for s in SECTIONS}
    for resource in found:
        section = _place(resource)
        if section is not None:
            placed[section.code].append(resource)
    listed = [r for s in SECTIONS for r in placed[s.code]]
    referenced = set(_references(listed))
    supporting = [r for r in found if r["resourceType"] in SUPPORTING and ref_of(r) in referenced]
    held = [patient, *listed, *supporting]
    sent = [ref_of(r) for r in held]  # the pod's own references, for the access log
    # Each resource in the document under the link's pseudonym: its fullUrl by the pod's
    # address of it, and by itself (a dict shared by two resources is seen twice).
    named = [ids.of(ref) for ref in sent]
    urls = {f"{fhir}/{ref}": f"urn:uuid:{new}" for ref, new in zip(sent, named, strict=True)}
    urls |= {url: url for url in urls.values()}
    masked = "security" in patient["meta"]  # the link does not share who the person is
    unnamed = f"urn:uuid:{named[0]}" if masked else None
    for resource in held:
        _keep_inside(resource, urls, fhir, unnamed=unnamed)
    for resource, new in zip(held, named, strict=True):
        resource["id"] = new
    by_url = {_full_url(r): r for r in held}
    for resource in held[1:]:
        _own_words(resource, by_url, masked=masked)
    for resource in held:
        _without_pod_meta(resource)
    sections = []
    for section in SECTIONS:
        entries = placed[section.code]
        if entries:
            sections.append(_section(section, entries, by_url))
        elif section.required:
            shared = section.category is not None and data.scope.covers_category(section.category)
            sections.append(_empty_section(section, "unavailable" if shared else "withheld"))
    now = _iso(now_ms)
    # The same for a link on every request: the same document, perhaps changed (`can-change`).
    composition_id = ids.of("Composition/summary")
    patient_url = _full_url(patient)
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "id": composition_id,
        "text": _narrative(
            "<p>Patient summary made by the person from their own health data pod, "
            f"{html.escape(now[:10])}.</p>"
        ),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{composition_id}"},
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary"}]},
        "subject": {"reference": patient_url},
        "date": now,
        "author": [{"reference": patient_url}],
        "title": "Patient summary",
        "confidentiality": "N",
    }
    period = _period(data)
    if period:
        composition["event"] = [
            {"code": [{"coding": [{"system": ACT_CLASS, "code": "PCPR"}]}], "period": period}
        ]
    composition["section"] = sections
    entries = [
        {"fullUrl": f"urn:uuid:{composition_id}", "resource": composition},
        *({"fullUrl": url, "resource": r} for url, r in by_url.items()),
    ]
    document = {
        "resourceType": "Bundle",
        # A new identifier for each file made: each is a document instance of its own.
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": now,
        "entry": entries,
    }
    return document, sent


def _full_url(resource: dict[str, Any]) -> str:
    return f"urn:uuid:{resource['id']}"


def _patient(resource: dict[str, Any]) -> dict[str, Any]:
    """The Patient with a narrative; a name or birth date the link does not share is marked
    `masked` (data-absent-reason), one the pod does not know `unknown`.

    The IPS Patient needs a name that obeys ips-pat-1 (`family.exists() or given.exists() or
    text.exists()` on each name) and a birth date. An absent one is written as the IPS asks
    for missing data: the reason on the primitive itself (`_text`, `_birthDate`), an element
    with an extension in place of a value, which FHIRPath sees as present. So nothing of who
    the person is is in it, and the document is still valid.
    """
    shown = "security" not in resource["meta"]
    reason = "unknown" if shown else "masked"

    def absent() -> dict[str, Any]:
        return {"extension": [{"url": DATA_ABSENT, "valueCode": reason}]}

    if "name" not in resource:
        resource["name"] = [{**absent(), "_text": absent()}]
    if "birthDate" not in resource:
        resource["_birthDate"] = absent()
    name = resource["name"][0].get("text") or "Name not shared"
    born = resource.get("birthDate") or ("birth date unknown" if shown else "birth date not shared")
    resource["text"] = _narrative(f"<p>{html.escape(name)}, {html.escape(born)}</p>")
    return resource


def _period(data: PersonData) -> dict[str, str]:
    period = {}
    if data.scope.data_from_ms is not None:
        period["start"] = _iso(data.scope.data_from_ms)
    if data.scope.data_to_ms is not None:
        period["end"] = _iso(data.scope.data_to_ms)
    return period


def _place(resource: dict[str, Any]) -> Section | None:
    """The section that lists a resource: None for one the summary does not list itself."""
    kind = resource["resourceType"]
    if kind == "Observation":
        categories = {
            c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", [])
        }
        if "vital-signs" in categories:
            return VITAL_SIGNS
        ours = any(
            c.get("system") == render.SAMPLE_TYPE_SYSTEM
            for c in resource.get("code", {}).get("coding", [])
        )
        if ours or categories & {"social-history", "activity"}:
            return SOCIAL_HISTORY
        return RESULTS
    return next((s for s in SECTIONS if kind in s.types), None)


def _own_words(
    resource: dict[str, Any], by_url: dict[str, dict[str, Any]], *, masked: bool
) -> None:
    """Put a narrative of the pod's own words in place of the one a record came with, and
    without `identity` leave out the device's name; in place.

    A record's narrative from healthcare is free text made elsewhere: it may name the person
    ("Martha DeLarosa") and carries the ids the record came with (`<a name="Condition_c641…">`),
    which would link two links' files. A device's name is often the person's ("Simon's
    iPhone").
    """
    if "text" in resource:
        row = " · ".join(html.escape(cell) for cell in describe(resource, by_url) if cell)
        resource["text"] = _narrative(f"<p>{row}</p>")
    if masked:
        resource.pop("device", None)


def _without_pod_meta(resource: dict[str, Any]) -> None:
    """Leave out when the pod stored a resource and its version there (`meta.lastUpdated`,
    `meta.versionId`): the pod's bookkeeping, not the record, and a millisecond that is the
    same in every file holding it, as telling as an id; in place. Profiles, tags and security
    labels stay."""
    meta = resource.get("meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("lastUpdated", "versionId")}
        if meta:
            resource["meta"] = meta
        else:
            del resource["meta"]


def _keep_inside(
    value: Any, urls: dict[str, str], fhir: str, *, unnamed: str | None = None
) -> None:
    """Point each reference to a resource in the document at its fullUrl (`urls`: by the
    pod's address of it), and turn each reference to one that is not (an Organization, a
    Practitioner, an Encounter the pod does not serve or the link does not share) into its
    display alone, since a document's references resolve inside it; in place. A reference to
    `unnamed` (the Patient, when the link does not share who it is) loses its display, which
    may be the person's name."""
    if isinstance(value, list):
        for item in value:
            _keep_inside(item, urls, fhir, unnamed=unnamed)
        return
    if not isinstance(value, dict):
        return
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        absolute = ref if ref.startswith(("http://", "https://", "urn:")) else f"{fhir}/{ref}"
        url = urls.get(absolute.split("/_history/")[0])
        if url is not None:
            value["reference"] = url
            if url == unnamed:
                value.pop("display", None)
        else:
            del value["reference"]
            kind = ref.rsplit("/", 2)[-2] if ref.count("/") >= 1 else "Resource"
            value.setdefault("display", f"{kind} (not in this summary)")
    for child in value.values():
        if isinstance(child, dict | list):
            _keep_inside(child, urls, fhir, unnamed=unnamed)


def _references(resources: Iterable[Any]) -> Iterable[str]:
    """Every `reference` string inside `resources`, at any depth."""
    for value in resources:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str):
                yield ref
            yield from _references(value.values())
        elif isinstance(value, list):
            yield from _references(value)


def _narrative(inner: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{inner}</div>'}


def _code(section: Section) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": section.code, "display": section.display}]}


def _section(
    section: Section,
    entries: Sequence[dict[str, Any]],
    by_url: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in describe(r, by_url)) + "</tr>"
        for r in entries
    )
    table = (
        "<table><thead><tr><th>Date</th><th>What</th><th>Value or status</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return {
        "title": section.title,
        "code": _code(section),
        "text": _narrative(table),
        "entry": [{"reference": _full_url(r)} for r in entries],
    }


def _empty_section(section: Section, reason: str) -> dict[str, Any]:
    why = (
        f"No information about {section.nothing}: this link does not share them."
        if reason == "withheld"
        else f"No information about {section.nothing} is recorded in the shared data."
    )
    return {
        "title": section.title,
        "code": _code(section),
        "text": _narrative(f"<p>{html.escape(why)}</p>"),
        "emptyReason": {
            "coding": [{"system": EMPTY_REASON, "code": reason, "display": EMPTY_REASONS[reason]}],
            "text": why,
        },
    }


def _concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _quantity_text(quantity: Any) -> str:
    if not isinstance(quantity, dict) or "value" not in quantity:
        return ""
    value = quantity["value"]
    if isinstance(value, float):
        value = f"{value:.6g}"
    unit = str(quantity.get("unit") or quantity.get("code") or "")
    if unit.startswith("{") and unit.endswith("}"):  # a UCUM annotation: {steps}
        unit = unit[1:-1]
    return f"{value} {unit}".strip()


def _when(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "onsetDateTime", "occurrenceDateTime", "performedDateTime",
                "recordedDate", "authoredOn", "issued", "dateAsserted"):  # fmt: skip
        if isinstance(resource.get(key), str):
            return str(resource[key])[:10]
    for key in ("effectivePeriod", "performedPeriod", "onsetPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and period.get("start"):
            return str(period["start"])[:10]
    return ""


def describe(resource: dict[str, Any], by_ref: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    """(date, what, value or status) of one entry, as its narrative row shows it."""
    what = _concept_text(
        resource.get("code")
        or resource.get("vaccineCode")
        or resource.get("medicationCodeableConcept")
    )
    medication = resource.get("medicationReference")
    if not what and isinstance(medication, dict):
        target = by_ref.get(str(medication.get("reference")))
        what = _concept_text((target or {}).get("code")) or str(medication.get("display") or "")
    value = _quantity_text(resource.get("valueQuantity")) or _concept_text(
        resource.get("valueCodeableConcept")
    )
    if not value and isinstance(resource.get("valueString"), str):
        value = resource["valueString"]
    if not value and resource.get("component"):
        parts = [_quantity_text(c.get("valueQuantity")) for c in resource["component"]]
        numbers = [p.split(" ", 1) for p in parts if p]
        units = {n[1] for n in numbers if len(n) == 2}
        value = "/".join(n[0] for n in numbers) + (f" {units.pop()}" if len(units) == 1 else "")
    if not value:
        value = _concept_text(resource.get("clinicalStatus")) or str(resource.get("status") or "")
    return _when(resource), what or resource["resourceType"], value


def _observations(read: Reader) -> list[dict[str, Any]]:
    """Observations within the scope: every one from healthcare, then samples (daily summaries
    under a daily grant), newest first, up to a limit, so a year of step counts never crowds
    out a lab result."""
    query = search.parse("Observation", [], strict=True, allowed=search.OBSERVATION_PARAMS)
    clinical: list[dict[str, Any]] = []
    offset = 0
    while True:
        rows, _total = resource_search.search(read, query, offset=offset, limit=PAGE)
        clinical += rows
        if len(rows) < PAGE:
            break
        offset += PAGE
    from_healthcare = {r["id"] for r in clinical}
    samples: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(samples) < MAX_OBSERVATIONS:
        params = [("_count", str(PAGE)), ("_sort", "-date")]  # the newest are kept
        if cursor is not None:
            params.append(("_cursor", cursor))
        page_query = search.parse(
            "Observation", params, strict=True, allowed=search.OBSERVATION_PARAMS
        )
        page, after, _unused = observation_search.search(read, page_query)
        samples += [r for r in map(_as_dict, page) if r["id"] not in from_healthcare]
        if after is None or after.kind == resource_search.OFFSET_KIND:
            break  # the samples are done; what follows is from healthcare, read above
        cursor = after.text()
    return clinical + samples[:MAX_OBSERVATIONS]


def _records(read: Reader) -> list[dict[str, Any]]:
    """Every record from healthcare but Observations that the reader's scope shows and the
    summary lists (or may reference)."""
    found: list[dict[str, Any]] = []
    listed = set().union(*(s.types for s in SECTIONS)) | SUPPORTING
    for resource_type in sorted(RESOURCE_CATEGORIES):
        if resource_type not in listed:
            continue
        if not read.scope.covers_category(RESOURCE_CATEGORIES[resource_type].value):
            continue
        query = search.parse(resource_type, [], strict=True, allowed=search.RESOURCE_PARAMS)
        offset = 0
        while True:
            rows, _total = resource_search.search(read, query, offset=offset, limit=PAGE)
            found += rows
            if len(rows) < PAGE:
                break
            offset += PAGE
    return found


def _as_dict(resource: dict[str, Any] | render.Rendered) -> dict[str, Any]:
    if isinstance(resource, render.Rendered):
        loaded: dict[str, Any] = json.loads(resource.json)
        return loaded
    return resource
