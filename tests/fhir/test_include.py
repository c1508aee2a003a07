"""`_include=Observation:patient`: the person once per page, only when the caller may read it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from healthpod.consent import audit
from healthpod.pod import Pod
from smart_support import FHIR, add_actor, add_person, add_samples, tokens_for

T0 = 1_700_000_000_000


def _anna(pod: Pod) -> int:
    anna = add_person(pod.engine, "anna")
    add_samples(pod.engine, anna, "heart_rate", [(T0 + i * 60_000, 60.0 + i) for i in range(3)])
    return anna


def _bearer(client: TestClient, pod: Pod, scope: str) -> dict[str, str]:
    actor = add_actor(pod.engine)
    body = tokens_for(client, actor.actor.client_id, "anna", scope)
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_each_page_includes_the_person_once_and_logs_it(client: TestClient, pod: Pod) -> None:
    anna = _anna(pod)
    auth = _bearer(client, pod, "patient/Observation.rs patient/Patient.rs")
    url: str | None = f"{FHIR}/Observation?_include=Observation:patient&_count=2"
    pages = []
    while url:
        page = client.get(url, headers=auth).json()
        pages.append(page)
        url = next((k["url"] for k in page["link"] if k["relation"] == "next"), None)
    assert len(pages) == 2
    for page in pages:
        modes = [(e["search"]["mode"], e["resource"]["resourceType"]) for e in page["entry"]]
        assert modes[-1] == ("include", "Patient") and modes.count(("include", "Patient")) == 1
        assert all(m == ("match", "Observation") for m in modes[:-1])
        assert page["entry"][-1]["resource"]["id"] == str(anna)
        self_link = next(k["url"] for k in page["link"] if k["relation"] == "self")
        assert "_include=Observation%3Apatient" in self_link
    with pod.engine.connect() as conn:
        events = [e.event for e in audit.entries(conn, anna) if e.event.startswith("fhir.")]
    assert events.count("fhir.include") == 2
    assert events.count("fhir.search") == 2


def test_no_patient_without_a_patient_scope(client: TestClient, pod: Pod) -> None:
    _anna(pod)
    auth = _bearer(client, pod, "patient/Observation.rs")
    page = client.get(f"{FHIR}/Observation?_include=Observation:subject", headers=auth)
    assert page.status_code == 200
    assert {e["resource"]["resourceType"] for e in page.json()["entry"]} == {"Observation"}


def test_no_include_on_an_empty_page(client: TestClient, pod: Pod) -> None:
    _anna(pod)
    auth = _bearer(client, pod, "patient/*.rs")
    page = client.get(f"{FHIR}/Observation?_include=Observation:patient&code=x|y", headers=auth)
    assert "entry" not in page.json()


def test_other_includes_are_refused_when_strict_and_ignored_otherwise(
    client: TestClient, pod: Pod
) -> None:
    _anna(pod)
    auth = _bearer(client, pod, "patient/*.rs")
    query = f"{FHIR}/Observation?_include=Observation:performer"
    strict = client.get(query, headers={**auth, "Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert "_include" in strict.json()["issue"][0]["diagnostics"]
    lenient = client.get(query, headers=auth).json()
    assert {e["search"]["mode"] for e in lenient["entry"]} == {"match"}
    assert "_include" not in next(k["url"] for k in lenient["link"] if k["relation"] == "self")


def test_capability_statement_declares_the_include(client: TestClient) -> None:
    statement = client.get(f"{FHIR}/metadata").json()
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    assert "Observation:patient" in observation["searchInclude"]
