"""Bulk Data $export: kick-off, status, NDJSON files, for an actor within its consent and for
the person's own full export."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.consent import store as consent_store
from healthpod.store import schema
from smart_support import FHIR, add_actor, add_person, add_samples, login, tokens_for

T0 = 1_704_067_200_000


@pytest.fixture
def anna(pod):
    anna = add_person(pod.engine, "anna")
    add_samples(pod.engine, anna, "heart_rate", [(T0 + i * 60_000, 60) for i in range(1500)])
    add_samples(pod.engine, anna, "steps", [(T0, 1234)])
    return anna


def _export(client, headers, path="$export", **params):
    kick = client.get(
        f"{FHIR}/{path}", params=params, headers={**headers, "Prefer": "respond-async"}
    )
    assert kick.status_code == 202, kick.text
    status = client.get(kick.headers["content-location"], headers=headers)
    assert status.status_code == 200
    manifest = status.json()
    assert manifest["requiresAccessToken"] is True
    return manifest


def _ndjson(client, url, headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_an_actor_exports_only_what_its_consent_covers(client, pod, anna):
    app = add_actor(pod.engine).actor

    def heart_only(pairs):
        return [(k, v) for k, v in pairs if k != "category" or v == "heart"]

    token = tokens_for(
        client, app.client_id, "anna", "launch/patient patient/*.rs", change=heart_only
    )["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    manifest = _export(client, headers, "Patient/$export", _type="Patient,Observation")
    files = {item["type"]: item["url"] for item in manifest["output"]}
    assert set(files) == {"Patient", "Observation"}
    observations = _ndjson(client, files["Observation"], headers)
    assert len(observations) == 1500  # more than one page; the steps sample is not there
    assert {o["code"]["coding"][0]["code"] for o in observations} == {"8867-4"}
    assert _ndjson(client, files["Patient"], headers)[0]["id"] == str(anna)
    # a file needs the token, and stops when the consent is revoked
    client.cookies.clear()
    assert client.get(files["Observation"]).status_code == 401
    with as_superuser(pod.engine) as conn:
        consent_id = conn.scalar(select(schema.consents.c.id))
        consent_store.revoke(conn, anna, consent_id, now_ms=T0 * 2)
    assert client.get(files["Observation"], headers=headers).status_code == 403


def test_the_person_exports_everything_of_their_own(client, anna):
    login(client, "anna")
    manifest = _export(client, {})
    files = {item["type"]: item["url"] for item in manifest["output"]}
    assert set(files) == {"Patient", "Observation"}  # no empty file for a type without data
    observations = _ndjson(client, files["Observation"], {})
    assert len(observations) == 1501


def test_another_caller_cannot_use_a_job(client, pod, anna):
    bob = add_person(pod.engine, "bob")
    login(client, "anna")
    manifest = _export(client, {})
    url = manifest["output"][0]["url"]
    client.cookies.clear()
    login(client, "bob")
    assert client.get(url).status_code == 404
    assert bob != anna


@pytest.mark.parametrize(
    "params",
    [
        {"_type": "Flavour"},
        {"_since": "yesterday"},
        {"_outputFormat": "text/csv"},
        {"_typeFilter": "x"},
    ],
)
def test_bad_kick_off_parameters(client, anna, params):
    login(client, "anna")
    response = client.get(f"{FHIR}/$export", params=params)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_forged_job_is_not_found(client, anna):
    login(client, "anna")
    assert client.get(f"{FHIR}/$export-status/not-a-job").status_code == 404
