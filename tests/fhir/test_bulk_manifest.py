"""The Bulk Data status manifest as a client reads it, over real HTTP: only files with lines,
and an export with nothing in it is complete with `"output": []` (Bulk Data Access IG,
"Response - Complete Status": files with no resources SHOULD be left out; an export without
resources returns an empty output array)."""

from __future__ import annotations

import json

import httpx
import pytest

from healthpod.store import resources
from smart_support import (
    add_actor,
    add_person,
    add_samples,
    http_tokens,
    live_server,
    login_with_form,
)

T0 = 1_704_067_200_000
CONDITION = {
    "resourceType": "Condition",
    "id": "cond-1",
    "subject": {"reference": "Patient/x"},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
    "recordedDate": "2024-01-02",
}


@pytest.fixture
def world(pod):
    anna = add_person(pod.engine, "anna")
    add_person(pod.engine, "bob")  # a person with no data at all
    add_samples(pod.engine, anna, "heart_rate", [(T0 + i * 60_000, 60) for i in range(3)])
    add_samples(pod.engine, anna, "steps", [(T0, 1234)])
    with pod.engine.begin() as conn:
        resources.write(conn, anna, [resources.ResourceInput(CONDITION)])
    app = add_actor(pod.engine).actor
    with live_server(pod) as base:
        yield {"base": base, "anna": anna, "app": app}


def _manifest(http: httpx.Client, base: str, **params) -> dict:
    kick = http.get(
        f"{base}/fhir/Patient/$export",
        params=params,
        headers={"Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    assert kick.status_code == 202, kick.text
    status = http.get(kick.headers["content-location"])
    assert status.status_code == 200, status.text
    manifest = status.json()
    assert manifest["error"] == []
    for item in manifest["output"]:  # every file listed has at least one resource in it
        lines = http.get(item["url"]).text.splitlines()
        assert lines, item["type"]
        assert all(json.loads(line)["resourceType"] == item["type"] for line in lines)
    return manifest


def _types(manifest: dict) -> set[str]:
    return {item["type"] for item in manifest["output"]}


def _actor(world, change=None) -> httpx.Client:
    body = http_tokens(
        world["base"], world["app"].client_id, "anna", "launch/patient patient/*.rs", change=change
    )
    return httpx.Client(headers={"Authorization": f"Bearer {body['access_token']}"})


def test_an_actors_manifest_lists_only_files_with_lines(world):
    with _actor(world) as http:
        assert _types(_manifest(http, world["base"])) == {"Patient", "Observation", "Condition"}


def test_types_outside_the_consent_have_no_file(world):
    def heart_only(fields):
        return [(k, v) for k, v in fields if k != "category" or v == "heart"]

    with _actor(world, heart_only) as http:
        manifest = _manifest(http, world["base"], _type="Observation,Condition,Immunization")
    assert _types(manifest) == {"Observation"}


def test_an_export_with_nothing_in_it_has_an_empty_output(world):
    with _actor(world) as http:
        manifest = _manifest(http, world["base"], _type="Immunization,AllergyIntolerance")
        assert manifest["output"] == []
        later = _manifest(http, world["base"], _type="Observation", _since="2099-01-01T00:00:00Z")
        assert later["output"] == []


def test_a_person_with_no_data_exports_only_themselves(world):
    with httpx.Client(base_url=world["base"], follow_redirects=False) as browser:
        login_with_form(browser, "bob")
        assert _types(_manifest(browser, world["base"])) == {"Patient"}
        empty = _manifest(browser, world["base"], _type="Observation,Condition")
        assert empty["output"] == []
