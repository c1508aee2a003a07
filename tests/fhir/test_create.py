"""Observation create by an actor: only with a write consent, kept as the actor's data, and a
clean 4xx (with nothing stored) for every bad body."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.store import schema
from smart_support import FHIR, add_actor, add_person, tokens_for

HEART_RATE = {
    "resourceType": "Observation",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/someone-else"},
    "effectiveDateTime": "2024-02-01T08:00:00Z",
    "valueQuantity": {
        "value": 58,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    },
}
WRITE = "launch/patient patient/Observation.rs patient/Observation.c"


@pytest.fixture
def anna(pod):
    return add_person(pod.engine, "anna")


@pytest.fixture
def app(pod):
    return add_actor(pod.engine, "Cuff App").actor


def _post(client, token, body, content_type="application/fhir+json", **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"{FHIR}/Observation",
        content=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type, **headers},
    )


def _stored(pod):
    with as_superuser(pod.engine) as conn:
        return conn.scalar(select(func.count()).select_from(schema.resources))


def test_an_actor_with_a_write_consent_adds_an_observation(client, pod, anna, app):
    token = tokens_for(client, app.client_id, "anna", WRITE)["access_token"]
    response = _post(client, token, HEART_RATE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{FHIR}/Observation/{created['id']}/_history/1"
    assert created["subject"] == {"reference": f"Patient/{anna}"}  # the person, whatever was sent
    again = client.get(
        f"{FHIR}/Observation/{created['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status_code == 200 and again.json()["valueQuantity"]["value"] == 58
    with as_superuser(pod.engine) as conn:
        row = conn.execute(
            select(schema.resources.c.provenance, schema.resources.c.organisation)
        ).one()
    assert tuple(row) == ("actor", "Cuff App")
    minimal = _post(client, token, HEART_RATE, Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b""


def test_read_only_scope_cannot_write(client, pod, anna, app):
    token = tokens_for(client, app.client_id, "anna", "launch/patient patient/Observation.rs")[
        "access_token"
    ]
    assert _post(client, token, HEART_RATE).status_code == 403
    assert _stored(pod) == 0


def test_the_person_can_keep_an_app_read_only(client, pod, anna, app):
    def read_only(pairs):
        return [(k, v) for k, v in pairs if not (k == "action" and v == "write")]

    token = tokens_for(client, app.client_id, "anna", WRITE, change=read_only)
    assert token["scope"] == "launch/patient patient/Observation.rs"
    assert _post(client, token["access_token"], HEART_RATE).status_code == 403
    assert _stored(pod) == 0


def test_a_category_outside_the_consent_cannot_be_written(client, pod, anna, app):
    def heart_only(pairs):
        return [(k, v) for k, v in pairs if k != "category" or v == "heart"]

    token = tokens_for(client, app.client_id, "anna", WRITE, change=heart_only)["access_token"]
    steps = {
        **HEART_RATE,
        "category": [],
        "code": {"coding": [{"system": "http://loinc.org", "code": "55423-8"}]},
    }
    assert _post(client, token, steps).status_code == 403
    assert _stored(pod) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (HEART_RATE, "text/plain", 415),
        (b"{not json", "application/fhir+json", 400),
        ({**HEART_RATE, "resourceType": "Condition"}, "application/fhir+json", 400),
        ({k: v for k, v in HEART_RATE.items() if k != "status"}, "application/fhir+json", 400),
        ({**HEART_RATE, "status": "very-final"}, "application/fhir+json", 400),
        (
            b'{"resourceType": "Observation", "status": "final", "valueQuantity": {"value": NaN}}',
            "application/json",
            400,
        ),
        (b"[" * 100_000 + b"]" * 100_000, "application/fhir+json", 400),
        (b"\xff\xfe not utf-8", "application/fhir+json", 400),
        (
            json.dumps({**HEART_RATE, "note": [{"text": "x" * 300_000}]}).encode(),
            "application/fhir+json",
            413,
        ),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_stored(
    client, pod, anna, app, body, content_type, status
):
    token = tokens_for(client, app.client_id, "anna", WRITE)["access_token"]
    response = _post(client, token, body, content_type)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert _stored(pod) == 0


def test_conditional_create_is_refused(client, pod, anna, app):
    token = tokens_for(client, app.client_id, "anna", WRITE)["access_token"]
    response = client.post(
        f"{FHIR}/Observation?identifier=x",
        content=json.dumps(HEART_RATE),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 400
    assert _stored(pod) == 0
