"""Bad and odd input to the FHIR API: a 4xx OperationOutcome that says what was wrong, never a
500; and the parts of search real clients rely on (dates, tokens, _count, conditional reads)."""

from __future__ import annotations

import pytest

from smart_support import FHIR, add_actor, add_person, add_samples, tokens_for

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture
def auth(client, pod):
    anna = add_person(pod.engine, "anna")
    ids = add_samples(pod.engine, anna, "heart_rate", [(T0 + h * HOUR, 60 + h) for h in range(48)])
    add_samples(pod.engine, anna, "steps", [(T0 + HOUR, 500)])
    app = add_actor(pod.engine).actor
    token = tokens_for(client, app.client_id, "anna", "launch/patient patient/*.rs")["access_token"]
    return {"Authorization": f"Bearer {token}", "ids": ids}


def _search(client, auth, params, **headers):
    return client.get(
        f"{FHIR}/Observation",
        params=params,
        headers={"Authorization": auth["Authorization"], **headers},
    )


def _outcome(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    return body["issue"][0]


@pytest.mark.parametrize(
    "params",
    [
        {"date": "ge2024-02-30"},
        {"date": "le2024-13-01"},
        {"date": "gt2024-01-01T25:00Z"},
        {"date": "2024-01-01T10:00"},  # a time needs a zone
        {"date": "xx2024"},
        {"date": "ap2024"},
        {"date": "2024-01-01T00:00:00+15:00"},
        {"_count": "-1"},
        {"_count": "abc"},
        {"_count": "³"},
        {"_count": "1 OR 1=1"},
        {"_sort": "date;DROP TABLE quantity_samples"},
        {"_sort": "(select 1)"},
        {"_summary": "data"},
        {"_total": "maybe"},
        {"_cursor": "garbage"},
        {"_cursor": "0.q.99999999999999999999"},
        {"_cursor": "0.zz.1"},
        {"_cursor": "0.d.1"},  # a daily-summary cursor under a raw consent
        {"code": "a\x00b"},
        {"_format": "xml"},
    ],
)
def test_malformed_search_parameters_are_400(client, auth, params):
    issue = _outcome(_search(client, auth, params), 400)
    assert issue["diagnostics"]


def test_sql_in_a_token_value_is_just_a_value(client, auth):
    response = _search(client, auth, {"code": "http://x|1' UNION SELECT * FROM persons--"})
    assert response.status_code == 200 and "entry" not in response.json()


def test_unknown_parameter_strict_is_400_lenient_is_ignored(client, auth):
    issue = _outcome(_search(client, auth, {"flavour": "mint"}, Prefer="handling=strict"), 400)
    assert "flavour" in issue["diagnostics"]
    lenient = _search(client, auth, {"flavour": "mint", "_count": "2"}).json()
    assert lenient["link"][0]["url"] == f"{FHIR}/Observation?_count=2"


def test_oversized_count_is_capped_with_a_next_link(client, auth):
    bundle = _search(client, auth, {"_count": "1000000000"}).json()
    assert len(bundle["entry"]) == 49
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_xml_is_not_acceptable(client, auth):
    _outcome(_search(client, auth, {}, Accept="application/fhir+xml"), 406)


def test_date_prefixes_and_repeats_select_the_right_range(client, auth):
    params = [
        ("date", "ge2024-01-01T10:00:00Z"),
        ("date", "lt2024-01-01T13:00:00Z"),
        ("code", "http://loinc.org|8867-4"),
    ]
    bundle = _search(client, auth, params).json()
    values = [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]]
    assert values == [70, 71, 72]
    day = _search(client, auth, {"date": "2024-01-02", "code": "8867-4"}).json()
    assert len(day["entry"]) == 24
    newest = _search(client, auth, {"_sort": "-date", "_count": "1", "code": "8867-4"}).json()
    assert newest["entry"][0]["resource"]["valueQuantity"]["value"] == 107


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("http://loinc.org|8867-4", 48),
        ("8867-4", 48),
        ("|8867-4", 0),  # no system: our codes all have one
        ("http://loinc.org|", 49),
        ("https://healthpod.dev/fhir/CodeSystem/sample-type|steps", 1),
        ("8867-4,55423-8", 49),
    ],
)
def test_token_search_forms(client, auth, code, expected):
    bundle = _search(client, auth, {"code": code, "_total": "accurate"}).json()
    assert bundle["total"] == expected


def test_metadata_is_open_and_points_to_the_authorization_server(client):
    response = client.get(f"{FHIR}/metadata")
    assert response.status_code == 200
    statement = response.json()
    for key in ("status", "date", "kind", "fhirVersion", "format"):
        assert statement[key]
    extension = statement["rest"][0]["security"]["extension"][0]
    assert extension["url"].endswith("/oauth-uris")
    uris = {e["url"]: e["valueUri"] for e in extension["extension"]}
    assert uris["authorize"] == "http://127.0.0.1:8000/oauth/authorize"
    assert uris["token"] == "http://127.0.0.1:8000/oauth/token"


def test_no_token_is_401_with_a_challenge(client):
    response = client.get(f"{FHIR}/Observation")
    _outcome(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_paths_and_methods(client, auth):
    _outcome(client.get(f"{FHIR}/Flavour", headers={"Authorization": auth["Authorization"]}), 404)
    response = client.delete(f"{FHIR}/Observation/q-1")
    issue = _outcome(response, 405)
    assert issue["code"] == "not-supported" and "GET" in response.headers["allow"]


def test_conditional_read_accepts_both_etag_forms(client, auth):
    path = f"{FHIR}/Observation/q-{auth['ids'][0]}"
    first = client.get(path, headers={"Authorization": auth["Authorization"]})
    assert first.headers["etag"] == 'W/"1"'
    assert first.json()["meta"]["versionId"] == "1"
    for sent in ("1", 'W/"1"'):
        again = client.get(
            path, headers={"Authorization": auth["Authorization"], "If-None-Match": sent}
        )
        assert again.status_code == 304 and again.content == b""


def test_vital_signs_shape(client, auth):
    resource = client.get(
        f"{FHIR}/Observation/q-{auth['ids'][0]}", headers={"Authorization": auth["Authorization"]}
    ).json()
    assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "8867-4",
        "display": "Heart rate",
    }
    assert resource["valueQuantity"] == {
        "value": 60.0,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert resource["effectiveDateTime"] == "2024-01-01T01:00:00+01:00"
    assert resource["subject"]["reference"].startswith("Patient/")
