"""The token response's `scope` says what the person granted, not what the app asked for.

RFC 6749 §5.1 and SMART App Launch 2 ("scope: Scope of access authorized"): when the person
narrows a request on the consent screen, the granted scope in the token response, in
introspection and in every refresh must say so. Run over real HTTP as a client would.
"""

from __future__ import annotations

import time

import httpx
import pytest

from healthpod.consent import store as consent_store
from smart_support import add_actor, add_person, http_tokens, live_server

PLAIN = "launch/patient openid fhirUser offline_access"


@pytest.fixture
def server(pod):
    add_person(pod.engine, "anna")
    with live_server(pod) as base:
        yield base


@pytest.fixture
def app(pod):
    return add_actor(pod.engine).actor


def _only(*categories):
    def change(fields):
        return [(k, v) for k, v in fields if k != "category" or v in categories]

    return change


def _no_write(fields):
    return [(k, v) for k, v in fields if (k, v) != ("action", "write")]


def _words(scope: str) -> set[str]:
    return set(scope.split())


def _refresh(server, app, refresh_token, **extra):
    return httpx.post(
        f"{server}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": app.client_id,
            **extra,
        },
    )


def test_a_wildcard_narrowed_to_two_categories_names_what_was_granted(server, app):
    body = http_tokens(
        server, app.client_id, "anna", f"{PLAIN} patient/*.rs", change=_only("heart", "sleep")
    )
    granted = _words(body["scope"])
    assert "patient/*.rs" not in granted
    assert granted == {*PLAIN.split(), "patient/Patient.rs", "patient/Observation.rs"}

    introspected = httpx.post(
        f"{server}/oauth/introspect",
        data={"token": body["access_token"], "client_id": app.client_id},
    ).json()
    assert introspected["active"] is True
    assert _words(introspected["scope"]) == granted

    refreshed = _refresh(server, app, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert _words(refreshed.json()["scope"]) == granted
    # The granted scope caps the token: records from healthcare were not granted.
    condition = httpx.get(
        f"{server}/fhir/Condition",
        headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
    )
    assert condition.status_code == 403


def test_a_wildcard_granted_whole_stays_a_wildcard(server, app):
    body = http_tokens(server, app.client_id, "anna", f"{PLAIN} patient/*.rs")
    assert _words(body["scope"]) == {*PLAIN.split(), "patient/*.rs"}


def test_record_types_whose_category_was_unticked_are_left_out(server, app):
    asked = "patient/Observation.rs patient/Condition.rs patient/Immunization.rs"
    everything_but_conditions = [
        "activity", "heart", "sleep", "body", "blood-pressure", "blood-glucose", "respiratory",
        "nutrition", "mindfulness", "other", "lab-results", "other-records", "immunizations",
    ]  # fmt: skip
    body = http_tokens(
        server, app.client_id, "anna", asked, change=_only(*everything_but_conditions)
    )
    assert _words(body["scope"]) == {"patient/Observation.rs", "patient/Immunization.rs"}


def test_unticking_write_takes_the_write_letters_away(server, app):
    body = http_tokens(
        server, app.client_id, "anna", "launch/patient patient/Observation.cruds", change=_no_write
    )
    assert _words(body["scope"]) == {"launch/patient", "patient/Observation.rs"}


def test_a_v1_wildcard_narrowed_on_the_screen(server, app):
    body = http_tokens(
        server,
        app.client_id,
        "anna",
        "launch/patient patient/*.read patient/*.write",
        change=lambda f: _no_write(_only("immunizations")(f)),
    )
    assert _words(body["scope"]) == {
        "launch/patient",
        "patient/Patient.rs",
        "patient/Immunization.rs",
    }


def test_introspection_and_refresh_after_the_person_narrowed_the_consent_say_so(server, app, pod):
    body = http_tokens(
        server, app.client_id, "anna", f"{PLAIN} patient/Observation.rs patient/Condition.rs"
    )
    assert "patient/Condition.rs" in _words(body["scope"])
    with pod.engine.begin() as conn:
        consent = consent_store.list_consents(conn, body_person(body))[0]
        consent_store.narrow(
            conn,
            body_person(body),
            consent.id,
            now_ms=time.time_ns() // 10**6,
            categories=consent.categories - {"conditions"},
        )
    introspected = httpx.post(
        f"{server}/oauth/introspect",
        data={"token": body["access_token"], "client_id": app.client_id},
    ).json()
    assert _words(introspected["scope"]) == {*PLAIN.split(), "patient/Observation.rs"}
    refreshed = _refresh(server, app, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert _words(refreshed.json()["scope"]) == {*PLAIN.split(), "patient/Observation.rs"}


def test_a_refresh_may_ask_for_less_but_not_for_what_was_not_granted(server, app):
    body = http_tokens(
        server, app.client_id, "anna", f"{PLAIN} patient/*.rs", change=_only("heart")
    )
    wider = _refresh(server, app, body["refresh_token"], scope=f"{PLAIN} patient/*.rs")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrower = _refresh(
        server, app, body["refresh_token"], scope="launch/patient patient/Observation.rs"
    )
    assert narrower.status_code == 200, narrower.text
    assert _words(narrower.json()["scope"]) == {"launch/patient", "patient/Observation.rs"}


def body_person(body: dict) -> int:
    return int(body["patient"])
