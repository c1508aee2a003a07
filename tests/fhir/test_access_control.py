"""Who must NOT see what: the access-control table of issue #4, on SQLite and PostgreSQL.

Each row is a way an actor could reach data it was not given; each must come back empty, 404,
or refused, and never with a count or a paging link that gives hidden data away.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update
from tests.conftest import as_superuser

from healthpod.consent import actors as actor_store
from healthpod.consent import store as consent_store
from healthpod.store import schema
from smart_support import (
    FHIR,
    add_actor,
    add_blood_pressure,
    add_person,
    add_samples,
    tokens_for,
)

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
READ_ALL = "launch/patient patient/*.rs offline_access"


@pytest.fixture
def world(pod):
    """Anna with heart rate, steps and blood pressure over 5 days; Bob with heart rate."""
    engine = pod.engine
    anna = add_person(engine, "anna")
    bob = add_person(engine, "bob")
    hr = add_samples(
        engine, anna, "heart_rate", [(T0 + d * DAY + 3_600_000, 60 + d) for d in range(5)]
    )
    steps = add_samples(
        engine, anna, "steps", [(T0 + d * DAY + 7_200_000, 1000 * d) for d in range(5)]
    )
    bp = add_blood_pressure(engine, anna, T0 + 2 * DAY, 120, 80)
    bob_hr = add_samples(engine, bob, "heart_rate", [(T0 + 5_000, 99)])
    app = add_actor(engine, "Pulse App").actor
    return {
        "anna": anna,
        "bob": bob,
        "hr": hr,
        "steps": steps,
        "bp": bp,
        "bob_hr": bob_hr,
        "app": app,
    }


def only(categories, **fields):
    """A change to the consent form: keep these categories, set these fields."""

    def change(pairs):
        kept = [(k, v) for k, v in pairs if k != "category" or v in categories]
        kept = [(k, v) for k, v in kept if k not in fields]
        return kept + list(fields.items())

    return change


def _get(client, token, path, **params):
    return client.get(f"{FHIR}/{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _ids(bundle):
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _all_pages(client, token, path, **params):
    ids, url = [], f"{FHIR}/{path}"
    response = client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        ids += _ids(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return ids
        response = client.get(nxt[0], headers={"Authorization": f"Bearer {token}"})


def test_another_persons_data_by_id_is_not_found(client, world):
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL)["access_token"]
    bob_obs = f"q-{world['bob_hr'][0]}"
    assert _get(client, token, f"Observation/{bob_obs}").status_code == 404
    never = _get(client, token, "Observation/q-999999")
    assert never.status_code == 404
    assert never.json()["issue"][0]["code"] == "not-found"
    assert _get(client, token, f"Patient/{world['bob']}").status_code == 404
    assert _get(client, token, f"Patient/{world['bob']}/$everything").status_code == 404
    for param in ("patient", "subject", "subject:Patient"):
        bundle = _get(client, token, "Observation", **{param: f"Patient/{world['bob']}"}).json()
        assert _ids(bundle) == []
    bundle = _get(client, token, "Observation", _id=bob_obs).json()
    assert _ids(bundle) == []


def test_a_category_outside_the_consent_is_invisible(client, world):
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL, change=only({"heart"}))[
        "access_token"
    ]
    ids = _all_pages(client, token, "Observation", _count=2)
    assert sorted(ids) == sorted(f"q-{i}" for i in world["hr"])
    assert _get(client, token, f"Observation/q-{world['steps'][0]}").status_code == 404
    assert _get(client, token, f"Observation/bp-{world['bp']}").status_code == 404
    steps = _get(client, token, "Observation", code="http://loinc.org|55423-8", _total="accurate")
    assert steps.json()["total"] == 0 and _ids(steps.json()) == []


def test_token_scope_limits_to_vital_signs(client, world):
    scope = "launch/patient patient/Observation.rs?category=vital-signs"
    token = tokens_for(client, world["app"].client_id, "anna", scope)["access_token"]
    ids = _all_pages(client, token, "Observation")
    assert f"q-{world['steps'][0]}" not in ids
    assert f"bp-{world['bp']}" in ids and f"q-{world['hr'][0]}" in ids
    assert _get(client, token, f"Observation/q-{world['steps'][0]}").status_code == 404
    assert _get(client, token, "Condition").status_code == 403  # no scope for it


def test_data_outside_the_time_window_is_invisible(client, world):
    change = only({"heart", "activity"}, data_from="2024-01-02", data_to="2024-01-03")
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL, change=change)[
        "access_token"
    ]
    ids = _all_pages(client, token, "Observation")
    assert sorted(ids) == sorted(
        [
            f"q-{world['hr'][1]}",
            f"q-{world['hr'][2]}",
            f"q-{world['steps'][1]}",
            f"q-{world['steps'][2]}",
        ]
    )
    assert _get(client, token, f"Observation/q-{world['hr'][0]}").status_code == 404
    assert _get(client, token, f"Observation/q-{world['hr'][4]}").status_code == 404
    counted = _get(client, token, "Observation", _summary="count").json()
    assert counted["total"] == 4 and "entry" not in counted


def test_raw_samples_are_invisible_under_a_daily_only_consent(client, world):
    token = tokens_for(
        client,
        world["app"].client_id,
        "anna",
        READ_ALL,
        change=only({"heart"}, granularity="daily"),
    )["access_token"]
    ids = _all_pages(client, token, "Observation")
    assert ids and all(i.startswith("d-heart.rate-") for i in ids)
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", i) for i in ids)  # FHIR ids
    assert len(ids) == 5  # one per day
    assert _get(client, token, f"Observation/q-{world['hr'][0]}").status_code == 404
    day = _get(client, token, f"Observation/{ids[0]}").json()
    assert day["valueQuantity"]["code"] == "/min" and "effectivePeriod" in day


def _consent_id(pod, person_id):
    with as_superuser(pod.engine) as conn:
        return conn.scalar(
            select(schema.consents.c.id)
            .where(schema.consents.c.person_id == person_id)
            .order_by(schema.consents.c.id.desc())
        )


def test_an_expired_consent_stops_access_at_once(client, pod, world):
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL)["access_token"]
    assert _get(client, token, "Observation").status_code == 200
    with as_superuser(pod.engine) as conn:
        conn.execute(update(schema.consents).values(valid_until_ms=1))
    response = _get(client, token, "Observation")
    assert response.status_code == 403
    assert "expired" in response.json()["issue"][0]["diagnostics"]


def test_a_revoked_consent_stops_tokens_and_refresh_at_once(client, pod, world):
    body = tokens_for(client, world["app"].client_id, "anna", READ_ALL)
    page = _get(client, body["access_token"], "Observation", _count=2).json()
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, world["anna"], _consent_id(pod, world["anna"]), now_ms=T0 * 2)
    assert _get(client, body["access_token"], "Observation").status_code == 403
    in_flight = client.get(next_url, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert in_flight.status_code == 403
    refreshed = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": world["app"].client_id,
        },
    )
    assert refreshed.json()["error"] == "invalid_grant"
    with as_superuser(pod.engine) as conn:
        outcomes = [
            (r.event, r.outcome)
            for r in conn.execute(
                select(schema.access_log).where(schema.access_log.c.person_id == world["anna"])
            )
        ]
    assert ("fhir.search", "denied") in outcomes and ("fhir.search", "allowed") in outcomes


def test_a_disabled_actor_is_refused(client, pod, world):
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL)["access_token"]
    with pod.engine.begin() as conn:
        actor_store.disable(conn, world["app"].id, now_ms=T0)
    assert _get(client, token, "Observation").status_code == 401


def test_a_token_of_actor_a_is_not_actor_bs(client, pod, world):
    other = add_actor(pod.engine, "Coach Bo", kind="coach").actor
    a = tokens_for(client, world["app"].client_id, "anna", READ_ALL)
    b = tokens_for(client, other.client_id, "anna", READ_ALL, change=only({"activity"}))
    # B's narrow consent gives B only steps, however B's token is presented
    ids_b = _all_pages(client, b["access_token"], "Observation")
    assert ids_b and all(i in {f"q-{s}" for s in world["steps"]} for i in ids_b)
    # revoking A's consent stops A's token even though B still has a consent
    with pod.engine.begin() as conn:
        consent_store.revoke(
            conn, world["anna"], _consent_id_of(pod, world["app"].id), now_ms=T0 * 2
        )
    assert _get(client, a["access_token"], "Observation").status_code == 403
    assert _get(client, b["access_token"], "Observation").status_code == 200
    # B cannot introspect or revoke A's token
    seen = client.post(
        "/oauth/introspect", data={"token": a["refresh_token"], "client_id": other.client_id}
    )
    assert seen.json() == {"active": False}
    refused = client.post(
        "/oauth/revoke", data={"token": b["refresh_token"], "client_id": world["app"].client_id}
    )
    assert refused.status_code == 400


def _consent_id_of(pod, actor_id):
    with as_superuser(pod.engine) as conn:
        return conn.scalar(
            select(schema.consents.c.id).where(schema.consents.c.actor_id == actor_id)
        )


def test_totals_and_paging_reveal_nothing_hidden(client, world):
    token = tokens_for(client, world["app"].client_id, "anna", READ_ALL, change=only({"activity"}))[
        "access_token"
    ]
    counted = _get(client, token, "Observation", _count=0).json()
    assert counted["total"] == 5 and "entry" not in counted
    page = _get(client, token, "Observation", _count=5, _total="accurate").json()
    assert page["total"] == 5
    assert [link["relation"] for link in page["link"]] == ["self"]  # no next page of hidden data
    # a tampered cursor pointing before everything still shows only the consented rows
    tampered = _get(client, token, "Observation", _cursor="0.q.0", _count=100).json()
    assert sorted(_ids(tampered)) == sorted(f"q-{s}" for s in world["steps"])


def _records(pod, person_id):
    from healthpod.store import resources

    lab = {
        "resourceType": "Observation",
        "id": "lab-1",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "subject": {"reference": "Patient/hospital-77"},
        "effectiveDateTime": "2024-01-03T08:00:00Z",
        "valueQuantity": {
            "value": 5.4,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
    }
    condition = {
        "resourceType": "Condition",
        "id": "cond-1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        "subject": {"reference": "Patient/hospital-77"},
        "onsetDateTime": "2023-05-01",
    }
    with pod.engine.begin() as conn:
        resources.write(
            conn, person_id, [resources.ResourceInput(lab), resources.ResourceInput(condition)]
        )


def test_records_from_healthcare_follow_the_consent(client, pod, world):
    _records(pod, world["anna"])
    token = tokens_for(
        client, world["app"].client_id, "anna", READ_ALL, change=only({"lab-results", "heart"})
    )["access_token"]
    lab = _get(client, token, "Observation/lab-1")
    assert lab.status_code == 200
    assert lab.json()["subject"]["reference"] == f"Patient/{world['anna']}"
    ids = _all_pages(client, token, "Observation", _count=3)
    assert "lab-1" in ids and len(ids) == 6  # five heart rates, then the lab result
    # Conditions were not granted, so the token's granted scope does not reach Condition at
    # all: refused for the type, whether or not the person has any.
    assert _get(client, token, "Condition/cond-1").status_code == 403
    assert _get(client, token, "Condition/no-such-id").status_code == 403
    assert _get(client, token, "Condition").status_code == 403
    labs = _get(client, token, "Observation", category="laboratory", _total="accurate").json()
    assert labs["total"] == 1 and _ids(labs) == ["lab-1"]


def test_records_are_hidden_under_a_daily_only_consent(client, pod, world):
    _records(pod, world["anna"])
    token = tokens_for(
        client,
        world["app"].client_id,
        "anna",
        READ_ALL,
        change=only({"lab-results", "conditions"}, granularity="daily"),
    )["access_token"]
    assert _get(client, token, "Observation/lab-1").status_code == 404
    assert _get(client, token, "Condition/cond-1").status_code == 404
