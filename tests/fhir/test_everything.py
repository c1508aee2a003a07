"""`Patient/$everything` as a third-party client calls it, over real HTTP.

From FHIR R4 `Patient/$everything` (OperationDefinition Patient-everything): the patient
compartment (the Patient, Observations, Conditions, medications, allergies, immunizations,
procedures, encounters, reports …), `_type` to limit the types, `_since`, `start`/`end`, `_count`
paging with next links. Within a consent: each type is decided like a read of it, so nothing
outside the consent or the token's scopes comes back, and each decision is in the log.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.store import resources, schema
from smart_support import add_actor, add_person, add_samples, http_tokens, live_server

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOSPITAL = "Patient/hospital-77"


def _record(resource_type: str, rid: str, **fields) -> dict:
    return {"resourceType": resource_type, "id": rid, **fields}


RECORDS = [
    _record(
        "Observation",
        "lab-1",
        status="final",
        category=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        code={"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        subject={"reference": HOSPITAL},
        effectiveDateTime="2024-01-03T08:00:00Z",
        valueQuantity={
            "value": 5.4,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
    ),
    _record(
        "Condition",
        "cond-1",
        code={"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        subject={"reference": HOSPITAL},
        onsetDateTime="2023-05-01",
    ),
    _record(
        "Immunization",
        "imm-1",
        status="completed",
        vaccineCode={"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
        patient={"reference": HOSPITAL},
        occurrenceDateTime="2024-01-04",
    ),
    _record(
        "MedicationStatement",
        "med-1",
        status="active",
        medicationCodeableConcept={
            "coding": [{"system": "http://snomed.info/sct", "code": "387458008"}]
        },
        subject={"reference": HOSPITAL},
        effectiveDateTime="2024-01-02",
    ),
    _record(
        "AllergyIntolerance",
        "alg-1",
        code={"coding": [{"system": "http://snomed.info/sct", "code": "227493005"}]},
        patient={"reference": HOSPITAL},
        recordedDate="2022-06-01",
    ),
]


@pytest.fixture
def world(pod):
    engine = pod.engine
    anna = add_person(engine, "anna")
    bob = add_person(engine, "bob")
    add_samples(engine, anna, "heart_rate", [(T0 + d * DAY + 3_600_000, 60 + d) for d in range(3)])
    add_samples(engine, anna, "steps", [(T0 + d * DAY + 7_200_000, 1000 + d) for d in range(2)])
    add_samples(engine, bob, "heart_rate", [(T0 + 5_000, 99)])
    with engine.begin() as conn:
        resources.write(conn, anna, [resources.ResourceInput(r) for r in RECORDS])
        bob_condition = _record("Condition", "bob-cond", subject={"reference": HOSPITAL},
                                onsetDateTime="2024-01-01")  # fmt: skip
        resources.write(conn, bob, [resources.ResourceInput(bob_condition)])
    app = add_actor(engine).actor
    with live_server(pod) as base:
        yield {"base": base, "anna": anna, "bob": bob, "app": app, "pod": pod}


def _only(*categories, **fields):
    def change(pairs):
        kept = [(k, v) for k, v in pairs if k != "category" or v in categories]
        kept = [(k, v) for k, v in kept if k not in fields]
        return kept + list(fields.items())

    return change


def _token(world, scope="launch/patient patient/*.rs", change=None) -> str:
    body = http_tokens(world["base"], world["app"].client_id, "anna", scope, change=change)
    return str(body["access_token"])


def _everything(world, token, **params) -> tuple[list[dict], list[dict]]:
    """Every page of $everything, following next links: (resources, bundles)."""
    url = f"{world['base']}/fhir/Patient/{world['anna']}/$everything"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    found, bundles = [], []
    response = httpx.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        bundles.append(bundle)
        found += [entry["resource"] for entry in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return found, bundles
        assert nxt[0].startswith(f"{world['base']}/fhir/")
        response = httpx.get(nxt[0], headers=headers)


def _kinds(found: list[dict]) -> list[str]:
    return [r["resourceType"] for r in found]


def _keys(found: list[dict]) -> set[tuple[str, str]]:
    return {(r["resourceType"], r["id"]) for r in found}


def test_the_whole_compartment_within_a_full_consent(world):
    found, _ = _everything(world, _token(world))
    anna = str(world["anna"])
    assert found[0] == {**found[0], "resourceType": "Patient", "id": anna}
    assert _kinds(found).count("Patient") == 1
    assert _kinds(found).count("Observation") == 6  # 3 heart rates, 2 step counts, 1 lab
    assert {("Condition", "cond-1"), ("Immunization", "imm-1"), ("MedicationStatement", "med-1"),
            ("AllergyIntolerance", "alg-1"), ("Observation", "lab-1")} <= _keys(found)  # fmt: skip
    assert ("Condition", "bob-cond") not in _keys(found)  # another person's record
    for resource in found[1:]:
        reference = (resource.get("subject") or resource.get("patient"))["reference"]
        assert reference == f"Patient/{anna}"


def test_type_limits_what_comes_back(world):
    token = _token(world)
    found, _ = _everything(world, token, _type="Condition,Immunization")
    assert _keys(found) == {("Condition", "cond-1"), ("Immunization", "imm-1")}
    found, _ = _everything(world, token, _type="Patient")
    assert _kinds(found) == ["Patient"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"_type": "Observation,Spaceship"}, "Spaceship"),
        ({"_type": ","}, "_type"),
        ({"_since": "yesterday"}, "_since"),
        ({"start": "2024-13-01"}, "start"),
        ({"end": "ge2024-01-01"}, "end"),
        ({"_count": "lots"}, "_count"),
        ({"_cursor": "Condition.-5"}, "paging link"),
        ({"_cursor": "Nothing.1"}, "paging link"),
        ({"_cursor": "Condition.\N{ARABIC-INDIC DIGIT ONE}"}, "paging link"),
        ({"_cursor": "Observation.99999999999999999.q.1"}, "_cursor"),
        ({"_since": "0001-01-01T00:00+01:00"}, "_since"),
        ({"end": "9999-12-31T23:59:59-01:00"}, "end"),
        ({"start": "2024-03-01", "end": "2024-02-01"}, "before start"),
        ({"_type": "Observation", "_count": "3", "_since": "2024-01-01"}, None),
    ],
)
def test_bad_parameters_are_an_operation_outcome(world, params, named):
    token = _token(world)
    response = httpx.get(
        f"{world['base']}/fhir/Patient/{world['anna']}/$everything",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    if named is None:  # a good request among the bad ones: the test reaches the server
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert named in outcome["issue"][0]["diagnostics"]


def test_nothing_outside_the_consent(world):
    token = _token(world, change=_only("heart", "conditions"))
    found, _ = _everything(world, token)
    assert _kinds(found)[0] == "Patient"
    observations = [r for r in found if r["resourceType"] == "Observation"]
    assert len(observations) == 3
    assert {o["code"]["coding"][0]["code"] for o in observations} == {"8867-4"}  # no steps
    assert {k for k in _keys(found) if k[0] != "Observation" and k[0] != "Patient"} == {
        ("Condition", "cond-1")
    }


def test_nothing_outside_the_tokens_scopes(world):
    # The person allowed everything the app asked for; the app asked for Observations only.
    token = _token(world, scope="launch/patient patient/Observation.rs?category=vital-signs")
    found, _ = _everything(world, token)
    assert _kinds(found) == ["Observation"] * 3  # no Patient, no steps, no lab, no records
    assert _everything(world, token, _type="Condition,Patient")[0] == []


def test_daily_summaries_under_a_daily_only_consent(world):
    token = _token(world, change=_only("heart", "activity", "conditions", granularity="daily"))
    found, _ = _everything(world, token)
    observations = [r for r in found if r["resourceType"] == "Observation"]
    assert observations and all(o["id"].startswith("d-") for o in observations)
    assert len(observations) == 5  # one per type and day
    assert "Condition" not in _kinds(found)  # records are not summaries


def test_paging_returns_each_resource_once(world):
    token = _token(world)
    whole, _ = _everything(world, token)
    paged, bundles = _everything(world, token, _count="2")
    assert len(bundles) >= len(whole) // 2
    assert all(len(b.get("entry", [])) <= 2 for b in bundles)
    assert [(r["resourceType"], r["id"]) for r in paged] == [
        (r["resourceType"], r["id"]) for r in whole
    ]


def test_since_start_and_end(world):
    token = _token(world)
    later, _ = _everything(world, token, _since="2099-01-01T00:00:00Z")
    assert _kinds(later) == ["Patient"]
    window, _ = _everything(world, token, start="2024-01-02", end="2024-01-03")
    keys = _keys(window)
    assert ("MedicationStatement", "med-1") in keys  # 2024-01-02
    assert ("Observation", "lab-1") in keys  # 2024-01-03
    assert ("Condition", "cond-1") not in keys  # 2023
    assert ("Immunization", "imm-1") not in keys  # 2024-01-04
    days = {r["effectiveDateTime"][:10] for r in window if r.get("effectiveDateTime")}
    assert days <= {"2024-01-02", "2024-01-03"}


def test_another_patient_is_not_found(world):
    token = _token(world)
    for other in (str(world["bob"]), "999999", "x" * 300):
        response = httpx.get(
            f"{world['base']}/fhir/Patient/{other}/$everything",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(f"{world['base']}/fhir/Patient/1/$everything").status_code == 401


def test_each_type_is_decided_and_logged_like_a_read(world):
    token = _token(world, change=_only("heart", "conditions"))
    _everything(world, token)
    with as_superuser(world["pod"].engine) as conn:
        rows = conn.execute(
            select(schema.access_log.c.outcome, schema.access_log.c.details).where(
                schema.access_log.c.person_id == world["anna"],
                schema.access_log.c.event == "fhir.everything",
            )
        ).all()
    decided = {row.details["resource_type"]: row.outcome for row in rows}
    # The token's granted scope reaches Patient, Observation and Condition only.
    assert decided == {"Patient": "allowed", "Observation": "allowed", "Condition": "allowed"}
