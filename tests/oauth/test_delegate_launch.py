"""A SMART app launched by a delegate: the person's context through the same consent checks,
and `fhirUser` names the delegate as a RelatedPerson; a view delegate may not grant."""

from __future__ import annotations

import base64
import json

from healthpod.consent import audit, delegates
from healthpod.pod import now_ms
from smart_support import (
    add_actor,
    add_person,
    authorize_params,
    login,
    pkce,
    tokens_for,
)

SCOPE = "openid fhirUser launch/patient patient/Observation.rs"


def _claims(id_token: str) -> dict:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _entries(pod, person):
    with pod.engine.connect() as conn:
        return audit.entries(conn, person)


def test_a_manage_delegate_launches_an_app_for_the_person(client, pod):
    anna, erik = add_person(pod.engine, "anna"), add_person(pod.engine, "erik")
    app = add_actor(pod.engine).actor
    given = delegates.add(pod.engine, anna, "erik", role="manage", until_ms=None, now_ms=now_ms())
    client.cookies.set("hp_acting", f"{erik}:{anna}")
    body = tokens_for(client, app.client_id, "erik", SCOPE)
    assert body["patient"] == str(anna)  # the person's context, not erik's
    claims = _claims(body["id_token"])
    assert claims["fhirUser"].endswith(f"/RelatedPerson/delegate-{given.delegation.id}")
    searched = client.get(
        "/fhir/Observation", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert searched.status_code == 200
    events = [(e.event, e.outcome, e.done_by) for e in _entries(pod, anna)]
    assert ("oauth.authorize", "allowed", "delegate") in events
    assert ("fhir.search", "allowed", "actor") in events  # the app's reads: the same consent door
    assert not [e for e in _entries(pod, erik) if e.event.startswith(("consent.", "fhir."))]
    # A person's own launch still names the Patient.
    client.cookies.delete("hp_acting")
    own = tokens_for(client, app.client_id, "anna", SCOPE)
    assert _claims(own["id_token"])["fhirUser"].endswith(f"/Patient/{anna}")


def test_a_view_delegate_cannot_grant_an_app_access(client, pod):
    anna, erik = add_person(pod.engine, "anna"), add_person(pod.engine, "erik")
    app = add_actor(pod.engine).actor
    delegates.add(pod.engine, anna, "erik", role="view", until_ms=None, now_ms=now_ms())
    login(client, "erik")
    client.cookies.set("hp_acting", f"{erik}:{anna}")
    _verifier, challenge = pkce()
    page = client.get(
        "/oauth/authorize",
        params=authorize_params(app.client_id, SCOPE, challenge),
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert page.status_code == 403
    last = _entries(pod, anna)[-1]
    assert (last.event, last.outcome, last.done_by) == ("oauth.authorize", "denied", "delegate")
    with pod.engine.connect() as conn:
        from healthpod.consent import store as consent_store

        assert consent_store.list_consents(conn, anna) == []
