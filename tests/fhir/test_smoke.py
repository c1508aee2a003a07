"""The whole path once: log in, allow, exchange the code, search Observations with paging."""

from smart_support import FHIR, add_actor, add_person, add_samples, tokens_for

T0 = 1_700_000_000_000


def test_an_allowed_app_pages_through_heart_rate(client, pod):
    anna = add_person(pod.engine, "anna")
    add_samples(pod.engine, anna, "heart_rate", [(T0 + i * 60_000, 60 + i) for i in range(5)])
    actor = add_actor(pod.engine)
    body = tokens_for(
        client, actor.actor.client_id, "anna", "launch/patient patient/Observation.rs"
    )
    assert body["patient"] == str(anna) and "refresh_token" not in body
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    values, url = [], f"{FHIR}/Observation?_count=2"
    while url:
        page = client.get(url, headers=auth).json()
        values += [e["resource"]["valueQuantity"]["value"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        assert url is None or url.startswith(FHIR)
    assert values == [60, 61, 62, 63, 64]
