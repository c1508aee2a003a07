"""What the access log says about FHIR, Bulk and token requests: who, for whom, what was asked,
the decision with its consent, and what was returned; refusals with the consent they hit."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.consent import actors, audit
from healthpod.consent import store as consent_store
from healthpod.store import schema
from smart_support import FHIR, add_actor, add_person, add_samples, now_ms, tokens_for

T0 = 1_704_067_200_000
SCOPE = "launch/patient patient/Observation.rs"


@pytest.fixture
def anna(pod):
    anna = add_person(pod.engine, "anna")
    add_samples(pod.engine, anna, "heart_rate", [(T0 + i * 60_000, 60 + i % 9) for i in range(60)])
    return anna


@pytest.fixture
def app(pod):
    return add_actor(pod.engine).actor


def _bearer(client, app, scope=SCOPE):
    body = tokens_for(client, app.client_id, "anna", scope)
    client.cookies.clear()  # from here on, only the app's token speaks
    return {"Authorization": f"Bearer {body['access_token']}"}, body


def _log(pod, person):
    with pod.engine.connect() as conn:
        assert audit.verify(conn, person).ok
        return audit.entries(conn, person)


def _consent_id(pod):
    with as_superuser(pod.engine) as conn:
        return conn.scalar(select(schema.consents.c.id))


def test_a_search_logs_its_decision_with_what_it_returned(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    before = len(_log(pod, anna))
    bundle = client.get(f"{FHIR}/Observation", params={"_count": "3"}, headers=headers).json()
    ids = [f"Observation/{e['resource']['id']}" for e in bundle["entry"]]
    # One entry: the decision and what left the pod, written before the answer was sent.
    [decision] = _log(pod, anna)[before:]
    assert (decision.event, decision.outcome, decision.done_by) == (
        "fhir.search",
        "allowed",
        "actor",
    )
    assert decision.actor_id == app.id and decision.consent_id == _consent_id(pod)
    assert decision.details["resource_type"] == "Observation"
    assert "_count=3" in decision.details["query"]
    assert decision.refers_to is None
    assert decision.details["returned"] == {"count": 3, "ids": ids}


def test_a_large_page_is_logged_as_a_count_and_a_digest(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    bundle = client.get(f"{FHIR}/Observation", params={"_count": "55"}, headers=headers).json()
    ids = [f"Observation/{e['resource']['id']}" for e in bundle["entry"]]
    sent = _log(pod, anna)[-1].details["returned"]
    assert sent == audit.Returned(ids).details()
    assert sent["count"] == 55 and len(sent["ids_sha256"]) == 64


def test_reads_log_what_they_returned_even_nothing(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    first = client.get(f"{FHIR}/Observation", params={"_count": "1"}, headers=headers).json()
    observation_id = first["entry"][0]["resource"]["id"]
    assert client.get(f"{FHIR}/Observation/{observation_id}", headers=headers).status_code == 200
    assert client.get(f"{FHIR}/Observation/nope", headers=headers).status_code == 404
    *_, read, missing = _log(pod, anna)
    assert read.event == "fhir.read"
    assert read.details["returned"] == {"count": 1, "ids": [f"Observation/{observation_id}"]}
    assert missing.event == "fhir.read" and missing.outcome == "allowed"
    assert missing.details["returned"] == {"count": 0, "ids": []}


def test_an_allowed_request_that_fails_after_its_decision_is_still_logged(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    before = len(_log(pod, anna))
    # Allowed by the consent, then refused by the search: a daily summaries' paging link under
    # a consent for raw samples.
    response = client.get(f"{FHIR}/Observation", params={"_cursor": f"{T0}.d.1"}, headers=headers)
    assert response.status_code == 400
    [entry] = _log(pod, anna)[before:]
    assert (entry.event, entry.outcome) == ("fhir.search", "allowed")
    assert entry.details["failed"] == "invalid" and "returned" not in entry.details


def test_a_write_is_logged_before_it_is_stored(client, pod, anna, app):
    headers, _ = _bearer(client, app, "launch/patient patient/Observation.c")
    before = len(_log(pod, anna))
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": 61, "unit": "/min"},
        "effectiveDateTime": "2024-01-01T10:00:00Z",
    }
    response = client.post(
        f"{FHIR}/Observation",
        json=observation,
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 201, response.text
    # Logged first, committed before the write (as a stream is): no "returned" in it.
    [entry] = _log(pod, anna)[before:]
    assert (entry.event, entry.outcome) == ("fhir.create", "allowed")
    assert "returned" not in entry.details


def test_everything_logs_what_it_returned(client, pod, anna, app):
    headers, _ = _bearer(client, app, "launch/patient patient/*.rs")
    before = len(_log(pod, anna))
    bundle = client.get(f"{FHIR}/Patient/{anna}/$everything", headers=headers).json()
    new = _log(pod, anna)[before:]
    decisions = [e for e in new if e.event == "fhir.everything" and e.outcome == "allowed"]
    # One entry per type read, each with what it gave: together, the whole page.
    assert {e.details["type"] for e in decisions} >= {"Patient", "Observation"}
    assert not [e for e in new if e.event == "returned"]
    ids = [i for e in decisions for i in e.details["returned"]["ids"]]
    assert sorted(ids) == sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
    )


def test_a_token_scope_refusal_is_logged_by_the_one_writer_with_its_consent(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    assert client.get(f"{FHIR}/Condition", headers=headers).status_code == 403
    refused = _log(pod, anna)[-1]
    assert (refused.event, refused.outcome, refused.done_by) == ("fhir.search", "denied", "actor")
    assert "token's scopes do not cover read of Condition" in refused.reason
    assert refused.consent_id == _consent_id(pod)
    assert refused.details["action"] == "read"


def test_a_refusal_after_revocation_names_the_revoked_consent(client, pod, anna, app):
    headers, _ = _bearer(client, app)
    consent_id = _consent_id(pod)
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, anna, consent_id, now_ms=now_ms())
    response = client.get(f"{FHIR}/Observation", headers=headers)
    assert response.status_code == 403 and "revoked" in response.text
    log = _log(pod, anna)
    [revoked] = [e for e in log if e.event == "consent.revoked"]
    # The person revoked it: their act, about the app, not the app's.
    assert (revoked.done_by, revoked.actor_id, revoked.consent_id) == ("person", app.id, consent_id)
    refused = log[-1]
    assert (refused.event, refused.outcome) == ("fhir.search", "denied")
    assert refused.consent_id == consent_id and "revoked" in refused.reason


def test_bulk_kick_off_status_and_each_file_are_logged(client, pod, anna, app):
    headers, _ = _bearer(client, app, "launch/patient patient/*.rs")
    kick = client.get(
        f"{FHIR}/Patient/$export",
        params={"_type": "Observation"},
        headers={**headers, "Prefer": "respond-async"},
    )
    assert kick.status_code == 202
    manifest = client.get(kick.headers["content-location"], headers=headers).json()
    [url] = [item["url"] for item in manifest["output"]]
    lines = client.get(url, headers=headers).text.splitlines()
    assert len(lines) == 60
    log = _log(pod, anna)
    start, status, download, sent = log[-4:]
    assert (start.event, start.outcome, start.actor_id) == ("fhir.export_start", "allowed", app.id)
    assert start.details["types"] == ["Observation"]
    assert (status.event, status.outcome) == ("fhir.export_status", "allowed")
    assert (download.event, download.outcome) == ("fhir.export", "allowed")
    assert (sent.event, sent.refers_to) == ("returned", download.seq)
    assert sent.details["count"] == 60 and "ids_sha256" in sent.details


def test_bulk_kick_off_after_revocation_is_refused_and_logged(client, pod, anna, app):
    headers, _ = _bearer(client, app, "launch/patient patient/*.rs")
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, anna, _consent_id(pod), now_ms=now_ms())
    kick = client.get(f"{FHIR}/$export", headers={**headers, "Prefer": "respond-async"})
    assert kick.status_code == 403 and "revoked" in kick.text
    refused = _log(pod, anna)[-1]
    assert (refused.event, refused.outcome) == ("fhir.export_start", "denied")
    assert refused.consent_id == _consent_id(pod)


# --- refused token refreshes ------------------------------------------------------------------


def _refresh(client, client_id, refresh_token):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return client.post("/oauth/token", data=data)


def test_a_refresh_after_revocation_is_refused_and_logged_for_the_person(client, pod, anna, app):
    _, body = _bearer(client, app, SCOPE + " offline_access")
    consent_id = _consent_id(pod)
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, anna, consent_id, now_ms=now_ms())
    assert _refresh(client, app.client_id, body["refresh_token"]).json()["error"] == "invalid_grant"
    refused = _log(pod, anna)[-1]
    assert (refused.event, refused.outcome, refused.done_by) == (
        "oauth.refresh_refused",
        "denied",
        "actor",
    )
    assert refused.actor_id == app.id and refused.consent_id == consent_id
    assert "revoked" in refused.reason


def test_a_refresh_by_a_disabled_app_is_logged(client, pod, anna, app):
    _, body = _bearer(client, app, SCOPE + " offline_access")
    with pod.engine.begin() as conn:
        actors.disable(conn, app.id, now_ms=now_ms())
    response = _refresh(client, app.client_id, body["refresh_token"])
    assert response.status_code in (400, 401)
    refused = _log(pod, anna)[-1]
    assert (refused.event, refused.actor_id) == ("oauth.refresh_refused", app.id)
    assert "disabled" in refused.reason and refused.consent_id == _consent_id(pod)


def test_a_refresh_token_presented_by_another_app_is_logged(client, pod, anna, app):
    other = add_actor(pod.engine, "Other App").actor
    _, body = _bearer(client, app, SCOPE + " offline_access")
    assert _refresh(client, other.client_id, body["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    refused = _log(pod, anna)[-1]
    assert (refused.event, refused.actor_id) == ("oauth.refresh_refused", other.id)
    assert "another app" in refused.reason
    # and the token still works for its own app: nothing was used up
    assert _refresh(client, app.client_id, body["refresh_token"]).status_code == 200
