"""The file behind a share link is an International Patient Summary (HL7 IPS IG) document.

Each link is opened over real HTTP as a recipient would (the manifest, then decryption with
AES-GCM by hand), and its Bundle is checked against the IPS rules that code can check: the
document's shape (Composition first, then the Patient, a fullUrl on every entry), the
Composition (type LOINC 60591-5, subject, author, date, title), the three required sections
always present with entries or an `emptyReason` (ips-comp-1, cmp-2), the other sections only
with entries, a generated XHTML narrative in every section listing each entry, every reference
resolving inside the Bundle, each section holding only the resource types the IPS allows there,
and every resource parsing with fhir.resources. Who must NOT see what: nothing outside the
link's categories or period, and nothing of another person, is in it.
"""

from __future__ import annotations

import json
import os
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from tests.share.test_share_links import (
    DAY,
    HOSPITAL,
    T0,
    _code,
    _record,
    make,
    open_link,
    pod_ids,
    world,  # noqa: F401 (a fixture)
)

from healthpod.consent.model import Granularity
from healthpod.share import summary
from healthpod.store import resources
from healthpod.store.resource_index import category_of

LOINC = "http://loinc.org"
XHTML = "{http://www.w3.org/1999/xhtml}"
EMPTY_REASONS = {"nilknown", "notasked", "withheld", "unavailable", "notstarted", "closed"}
REQUIRED = {"11450-4", "48765-2", "10160-0"}
ALLOWED = {  # what each IPS section may list
    "11450-4": {"Condition"},
    "48765-2": {"AllergyIntolerance"},
    "10160-0": {"MedicationStatement", "MedicationRequest"},
    "11369-6": {"Immunization"},
    "47519-4": {"Procedure"},
    "30954-2": {"Observation", "DiagnosticReport"},
    "8716-3": {"Observation"},
    "29762-2": {"Observation"},
}
SUBJECT_KEYS = ("subject", "patient")


@pytest.fixture
def clinic(world):  # noqa: F811
    """Anna's records from healthcare, beyond the world's condition and immunization."""
    pod = world["pod"]
    lab = _record(
        "Observation", "hb-1", status="final",
        category=[_code("http://terminology.hl7.org/CodeSystem/observation-category",
                        "laboratory")],
        code=_code(LOINC, "718-7"), subject={"reference": HOSPITAL},
        effectiveDateTime="2024-01-03", valueQuantity={"value": 131, "unit": "g/L"},
    )  # fmt: skip
    with pod.engine.begin() as conn:
        resources.write(
            conn,
            world["anna"],
            [
                resources.ResourceInput(r)
                for r in [
                    _record(
                        "AllergyIntolerance",
                        "alg-1",
                        patient={"reference": HOSPITAL},
                        code={"text": "Penicillin"},
                        recordedDate="2024-01-02",
                    ),
                    _record("Medication", "med-1", code={"text": "Metformin 500 mg"}),
                    _record(
                        "MedicationStatement",
                        "ms-1",
                        status="active",
                        medicationReference={"reference": "Medication/med-1"},
                        subject={"reference": HOSPITAL},
                        effectiveDateTime="2024-01-02",
                    ),
                    _record(
                        "MedicationDispense",
                        "md-1",
                        status="completed",
                        medicationReference={"reference": "Medication/med-1"},
                        subject={"reference": HOSPITAL},
                        whenHandedOver="2024-01-02",
                    ),
                    lab,
                    _record(
                        "DiagnosticReport",
                        "dr-1",
                        status="final",
                        code=_code(LOINC, "58410-2"),
                        subject={"reference": HOSPITAL},
                        effectiveDateTime="2024-01-03",
                        result=[{"reference": "Observation/hb-1"}],
                    ),
                    _record(
                        "Encounter",
                        "enc-1",
                        status="finished",
                        subject={"reference": HOSPITAL},
                        period={"start": "2024-01-02"},
                    ),
                    _record(
                        "Condition",
                        "cond-old",
                        code={"text": "Old sprain"},
                        subject={"reference": HOSPITAL},
                        onsetDateTime="2023-06-01",
                    ),
                ]
            ],
        )
    return world


def check_ips(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Raise AssertionError where the document breaks an IPS rule; its sections by code."""
    assert document["resourceType"] == "Bundle" and document["type"] == "document"
    assert document["identifier"]["value"] and document["timestamp"]
    Bundle.model_validate(document)
    entries = document["entry"]
    urls = [e["fullUrl"] for e in entries]
    assert len(set(urls)) == len(urls)
    for entry in entries:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    composition, patient = entries[0]["resource"], entries[1]["resource"]
    assert composition["resourceType"] == "Composition" and patient["resourceType"] == "Patient"
    assert obeys_patient_uv_ips(patient)
    by_url = {e["fullUrl"]: e["resource"] for e in entries}
    patient_url = urls[1]
    assert composition["status"] == "final" and composition["title"] and composition["date"]
    assert {"system": LOINC, "code": "60591-5"}.items() <= composition["type"]["coding"][0].items()
    assert composition["subject"]["reference"] == patient_url
    assert all(a["reference"] in by_url for a in composition["author"])
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    assert len(sections) == len(composition["section"])
    assert set(sections) >= REQUIRED
    listed: set[str] = set()
    for code, section in sections.items():
        assert section["code"]["coding"][0]["system"] == LOINC and section["title"]
        assert section["text"]["status"] == "generated"
        div = ET.fromstring(section["text"]["div"])  # well-formed XHTML
        assert div.tag == f"{XHTML}div"
        refs = [e["reference"] for e in section.get("entry", [])]
        # ips-comp-1: entries or an emptyReason; cmp-2: an emptyReason only when empty.
        assert bool(refs) != ("emptyReason" in section), code
        if not refs:
            assert code in REQUIRED, f"section {code} is there without entries"
            reason = section["emptyReason"]["coding"][0]
            assert reason["code"] in EMPTY_REASONS
            assert "".join(div.itertext()).strip()
            continue
        assert all(ref in by_url for ref in refs), code  # by fullUrl, inside the Bundle
        assert {by_url[ref]["resourceType"] for ref in refs} <= ALLOWED[code], code
        if code == "8716-3":
            assert all("vital-signs" in json.dumps(by_url[ref]["category"]) for ref in refs)
        rows = div.findall(f".//{XHTML}tbody/{XHTML}tr")
        assert len(rows) == len(refs), code  # the narrative lists each entry
        listed |= set(refs)
    for url, resource in by_url.items():  # each fullUrl is urn:uuid: and the resource's id
        assert url == f"urn:uuid:{resource['id']}" and uuid.UUID(resource["id"])
    for resource in by_url.values():  # a document's references resolve inside it
        for ref in _references(resource):
            if not ref.startswith("#"):
                assert ref in by_url, f"{resource['resourceType']}: {ref} is not in it"
    for url, resource in by_url.items():
        if resource["resourceType"] in ("Composition", "Patient"):
            continue
        for key in SUBJECT_KEYS:  # the subject is the summary's Patient
            if key in resource:
                assert resource[key]["reference"] == patient_url
        if url not in listed:  # otherwise referenced from a listed entry
            assert any(url in json.dumps(by_url[other]) for other in listed), url
    return sections


# ips-pat-1, on Patient.name in the IPS IG's Patient-uv-ips profile, as the IG writes it:
#     family.exists() or given.exists() or text.exists()
# fhirpathpy is not a dependency, so the expression is evaluated by hand below, on FHIR's
# FHIRPath model: a primitive in JSON is split into `text` (its value) and `_text` (its id and
# extensions), and FHIRPath sees one element `text` when either is there (an element with an
# extension in place of a value exists; `hasValue()` would tell them apart).
IPS_PAT_1 = ("family", "given", "text")


def _fhirpath_children(element: dict[str, Any], name: str) -> list[Any]:
    """`element.name` in FHIRPath: one item per value or `_name` entry, merged by position."""
    values, extras = element.get(name), element.get(f"_{name}")
    as_list = lambda v: v if isinstance(v, list) else ([] if v is None else [v])  # noqa: E731
    values, extras = as_list(values), as_list(extras)
    length = max(len(values), len(extras))
    padded = [
        (values[i] if i < len(values) else None, extras[i] if i < len(extras) else None)
        for i in range(length)
    ]
    return [pair for pair in padded if pair != (None, None)]


def obeys_ips_pat_1(name: dict[str, Any]) -> bool:
    return any(_fhirpath_children(name, child) for child in IPS_PAT_1)


def obeys_patient_uv_ips(patient: dict[str, Any]) -> bool:
    """Patient-uv-ips: name 1..* (each obeying ips-pat-1) and birthDate 1..1."""
    names = patient.get("name", [])
    born = _fhirpath_children(patient, "birthDate")
    return bool(names) and all(obeys_ips_pat_1(n) for n in names) and len(born) == 1


def test_the_hand_evaluation_of_ips_pat_1_tells_a_valid_name_from_an_invalid_one():
    absent = {"extension": [{"url": summary.DATA_ABSENT, "valueCode": "masked"}]}
    assert obeys_ips_pat_1({"text": "Anna Berg"})
    assert obeys_ips_pat_1({"given": ["Anna"]}) and obeys_ips_pat_1({"family": "Berg"})
    assert obeys_ips_pat_1({"_text": absent})  # present, with a reason instead of a value
    assert obeys_ips_pat_1({"_given": [absent]})
    # What the summary wrote before: the reason on the name, and no family, given or text.
    assert not obeys_ips_pat_1(absent)
    assert not obeys_ips_pat_1({"use": "official"}) and not obeys_ips_pat_1({"given": []})
    assert not obeys_patient_uv_ips({"name": [], "birthDate": "1980-01-01"})
    assert not obeys_patient_uv_ips({"name": [{"text": "Anna"}]})  # no birthDate
    assert obeys_patient_uv_ips({"name": [{"text": "Anna"}], "_birthDate": absent})


def _references(value: Any) -> list[str]:
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    if not isinstance(value, dict):
        return []
    own = [value["reference"]] if isinstance(value.get("reference"), str) else []
    return own + [ref for child in value.values() for ref in _references(child)]


def _kinds(document: dict[str, Any], world: Any, made: Any) -> dict[str, set[str]]:  # noqa: F811
    """The pod's own ids of the document's resources (after the Composition and the Patient),
    by type."""
    own = pod_ids(world, made)
    found: dict[str, set[str]] = {}
    for entry in document["entry"][2:]:
        resource = entry["resource"]
        found.setdefault(resource["resourceType"], set()).add(own[resource["id"]])
    return found


def test_a_link_of_every_clinical_category_is_a_full_ips(clinic):
    everything = {"identity", "heart", "activity", "conditions", "allergies", "medications",
                  "immunizations", "lab-results", "encounters"}  # fmt: skip
    made = make(clinic, categories=everything)
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    assert set(sections) == {"11450-4", "48765-2", "10160-0", "11369-6", "30954-2", "8716-3",
                             "29762-2"}  # fmt: skip
    kinds = _kinds(document, clinic, made)
    assert kinds["Condition"] == {"cond-1", "cond-old"}
    assert kinds["MedicationStatement"] == {"ms-1"} and kinds["Medication"] == {"med-1"}
    assert kinds["DiagnosticReport"] == {"dr-1"} and "hb-1" in kinds["Observation"]
    # The IPS has no place for a dispense or an encounter: they stay out of the summary.
    assert "MedicationDispense" not in kinds and "Encounter" not in kinds
    # The narratives say what the entries are.
    assert "Metformin 500 mg" in sections["10160-0"]["text"]["div"]
    assert "Penicillin" in sections["48765-2"]["text"]["div"]
    assert "131 g/L" in sections["30954-2"]["text"]["div"]
    patient = document["entry"][1]["resource"]
    assert patient["name"] == [{"text": "Anna"}] and "Anna" in patient["text"]["div"]
    # Steps (activity) are lifestyle observations, heart rate a vital sign.
    vitals = sections["8716-3"]["text"]["div"]
    assert "Heart rate" in vitals or "heart" in vitals.lower()


def test_sections_not_shared_are_there_as_withheld_and_nothing_else_is(clinic):
    made = make(clinic, categories={"heart", "conditions"})
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    assert set(sections) == REQUIRED | {"8716-3"}
    assert len(sections["11450-4"]["entry"]) == 2
    for code in ("48765-2", "10160-0"):
        assert sections[code]["emptyReason"]["coding"][0]["code"] == "withheld"
        assert "does not share" in sections[code]["text"]["div"]
    kinds = _kinds(document, clinic, made)
    assert set(kinds) == {"Condition", "Observation"}
    assert all(category_of(e["resource"]).value in {"heart", "conditions"}
               for e in document["entry"][2:])  # fmt: skip
    text = json.dumps(document)
    for not_shared in ("alg-1", "ms-1", "med-1", "hb-1", "dr-1", "imm-1", "bob-cond"):
        assert not_shared not in text
    # Without identity the Patient's name and birth date are masked, as IPS readers expect.
    patient = document["entry"][1]["resource"]
    assert patient["name"][0]["extension"][0]["valueCode"] == "masked"
    assert patient["_birthDate"]["extension"][0]["valueCode"] == "masked"
    assert "Anna" not in text


def test_a_patient_without_identity_is_valid_and_says_nothing_of_who_it_is(clinic):
    """ips-pat-1 holds with the name masked, and who the person is never leaves the pod."""
    (document,) = open_link(make(clinic, categories={"heart", "conditions"}).shlink)
    check_ips(document)  # every document is checked against ips-pat-1 there
    patient = document["entry"][1]["resource"]
    masked = [{"url": summary.DATA_ABSENT, "valueCode": "masked"}]
    assert patient["name"] == [{"extension": masked, "_text": {"extension": masked}}]
    assert patient["_birthDate"] == {"extension": masked}
    assert obeys_ips_pat_1(patient["name"][0])
    # Who must NOT see what: no name, birth date, sex, identifier, address or contact.
    assert set(patient) == {"resourceType", "id", "meta", "name", "_birthDate", "text"}
    assert patient["meta"]["security"][0]["code"] == "REDACTED"
    assert "Name not shared" in patient["text"]["div"]
    text = json.dumps(document)
    assert "Anna" not in text and "anna" not in text


def test_a_patient_with_identity_keeps_its_name_and_obeys_ips_pat_1(clinic):
    (document,) = open_link(make(clinic, categories={"heart", "identity"}).shlink)
    check_ips(document)
    patient = document["entry"][1]["resource"]
    assert patient["name"] == [{"text": "Anna"}] and obeys_ips_pat_1(patient["name"][0])
    # The pod holds no birth date for Anna: it is `unknown`, not `masked`.
    assert patient["_birthDate"]["extension"][0]["valueCode"] == "unknown"


def test_the_period_of_the_link_bounds_every_entry(clinic):
    made = make(
        clinic,
        categories={"heart", "conditions", "lab-results", "medications"},
        granularity=Granularity.RAW,
        data_from_ms=T0 + DAY,  # 2024-01-02
        data_to_ms=T0 + 3 * DAY,  # up to 2024-01-04, not inclusive
    )
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    kinds = _kinds(document, clinic, made)
    assert kinds["Condition"] == {"cond-1"}  # not the sprain of 2023
    assert kinds["DiagnosticReport"] == {"dr-1"}
    composition = document["entry"][0]["resource"]
    assert composition["event"][0]["period"] == {
        "start": "2024-01-02T00:00:00Z",
        "end": "2024-01-04T00:00:00Z",
    }
    for entry in document["entry"][2:]:
        resource = entry["resource"]
        when = summary.describe(resource, {})[0]
        if when:
            assert "2024-01-02" <= when < "2024-01-04", resource["id"]
    own = pod_ids(clinic, made)
    values = sorted(
        r["valueQuantity"]["value"]
        for e in document["entry"]
        if (r := e["resource"])["resourceType"] == "Observation" and own[r["id"]].startswith("q-")
    )
    assert values == [61, 62]
    assert sections["48765-2"]["emptyReason"]["coding"][0]["code"] == "withheld"


def test_an_empty_pod_gives_the_three_required_sections_as_unavailable(world):  # noqa: F811
    from tests.smart_support import add_person

    carl = add_person(world["pod"].engine, "carl")
    request_world = {**world, "anna": carl}
    made = make(request_world, categories={"conditions", "allergies", "medications", "identity"})
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    assert set(sections) == REQUIRED
    assert len(document["entry"]) == 2  # the Composition and the Patient
    for section in sections.values():
        assert section["emptyReason"]["coding"][0]["code"] == "unavailable"
        assert "recorded" in section["text"]["div"]
    assert "Anna" not in json.dumps(document) and "cond-1" not in json.dumps(document)


def test_a_daily_link_is_valid_too(clinic):
    made = make(clinic, categories={"heart", "activity", "immunizations"})
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    assert set(sections) == REQUIRED | {"11369-6", "8716-3", "29762-2"}
    daily = [r for e in document["entry"] if (r := e["resource"])["resourceType"] == "Observation"]
    own = pod_ids(clinic, made)
    assert daily and all(own[r["id"]].startswith("d-") for r in daily)


def test_an_ips_from_healthcare_comes_back_out_as_a_valid_ips(world):  # noqa: F811
    """The HL7 IPS IG's own example Bundle, imported into the pod, then shared whole."""
    from pathlib import Path

    from healthpod.ingest.run import import_file

    example = (
        Path(__file__).parents[1] / "data" / "fhir" / "ips" / "Bundle-IPS-examples-Bundle-01.json"
    )
    import_file(world["pod"], example, person_id=world["anna"])
    everything = {"identity", "conditions", "allergies", "medications", "immunizations",
                  "lab-results", "heart", "body", "other-records"}  # fmt: skip
    made = make(world, categories=everything)
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    kinds = {  # more than the access log lists by id: counted by pseudonym
        kind: {r["id"] for e in document["entry"] if (r := e["resource"])["resourceType"] == kind}
        for kind in ("AllergyIntolerance", "MedicationStatement", "Medication")
    }
    assert len(kinds["AllergyIntolerance"]) == 2 and len(kinds["MedicationStatement"]) == 2
    assert len(kinds["Medication"]) == 2  # the statements' medications, referenced
    assert set(sections) >= REQUIRED | {"30954-2"}
    # Each medication is named in the narrative from its Medication resource.
    # The lab results' performer, an Organization the pod does not serve, stays as a display.
    results = [
        r for e in document["entry"] if (r := e["resource"])["resourceType"] == "Observation"
    ]
    performers = [p for r in results for p in r.get("performer", [])]
    assert performers and all("reference" not in p and p["display"] for p in performers)
    medications = sections["10160-0"]["text"]["div"]
    for medication in (
        r for e in document["entry"] if (r := e["resource"])["resourceType"] == "Medication"
    ):
        assert summary.describe(medication, {})[1] in medications


def test_samples_beyond_the_limit_never_crowd_out_a_result_from_healthcare(clinic, monkeypatch):
    monkeypatch.setattr(summary, "MAX_OBSERVATIONS", 4)  # a summary, not an export
    monkeypatch.setattr(summary, "PAGE", 3)  # and pages of three, to walk the cursors
    made = make(
        clinic, categories={"heart", "activity", "lab-results"}, granularity=Granularity.RAW
    )
    (document,) = open_link(made.shlink)
    sections = check_ips(document)
    observations = _kinds(document, clinic, made)["Observation"]
    assert "hb-1" in observations and len(observations - {"hb-1"}) == 4
    own = pod_ids(clinic, made)
    kept = [
        r
        for e in document["entry"]
        if (r := e["resource"])["resourceType"] == "Observation" and own[r["id"]] != "hb-1"
    ]
    days = sorted(r["effectiveDateTime"][:10] for r in kept)
    assert days == ["2024-01-03", "2024-01-03", "2024-01-04", "2024-01-05"]  # the newest
    assert len(sections["30954-2"]["entry"]) == 2  # the lab result and its report


@pytest.mark.parametrize(("lang", "not_shared"), [("en", "Name not shared"),
                                                  ("sv", "Namnet delas inte")])  # fmt: skip
def test_the_viewer_shows_a_summary_whose_patient_is_masked(world, lang, not_shared):  # noqa: F811
    chromium = Path(os.environ.get("HEALTHPOD_TEST_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium} (set HEALTHPOD_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    made = make(world, categories={"heart", "conditions"})

    def in_the_browser() -> tuple[list[str], str, str]:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium))
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(made.viewer_url.replace("/shl/view#", f"/shl/view?lang={lang}#"))
            page.fill("#recipient", "Dr. Berg")
            page.click("button[type=submit]")
            page.wait_for_selector("#summary h2")
            who, text = page.text_content("#summary h2") or "", page.text_content("#summary") or ""
            browser.close()
        return errors, who, text

    # A thread of its own, as in test_share_links: Playwright's sync API refuses a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        errors, who, text = pool.submit(in_the_browser).result()
    assert errors == []
    assert who == not_shared
    assert "Anna" not in text and "38341003" in text  # the shared condition, by its code
