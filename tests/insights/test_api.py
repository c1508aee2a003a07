"""The insights JSON API: the person's own numbers, units and local dates; 4xx for bad input."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthpod import accounts
from healthpod.app import create_app
from healthpod.pod import now_ms
from insights.builder import Person

PASSWORD = "long enough secret"


@pytest.fixture
def client(pod):
    me, other = Person(pod.engine, "alice"), Person(pod.engine, "bob")
    me.quantity("steps", "2026-04-01T10:00+02:00", "2026-04-01T11:00+02:00", 600, "Phone")
    me.quantity("steps", "2026-04-01T10:30+02:00", "2026-04-01T11:30+02:00", 300, "Watch")
    me.quantity("heart_rate", "2026-04-01T10:00+02:00", None, 70, "Watch")
    me.save()
    other.quantity("steps", "2026-04-01T09:00+02:00", "2026-04-01T09:10+02:00", 99999, "Bob")
    other.save()
    with pod.engine.begin() as conn:
        accounts.create_account(conn, "alice", PASSWORD, person_id=me.id, now_ms=now_ms())
    client = TestClient(create_app(pod.settings, pod=pod))
    r = client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def test_stats_carry_units_and_local_dates(client):
    r = client.get("/api/insights/stats/steps", params={"by": "week"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["type"], doc["unit"], doc["by"]) == ("steps", "{steps}", "week")
    (week,) = doc["buckets"]
    assert (week["start"], week["end"]) == ("2026-03-30", "2026-04-06")
    # equal priorities: the older source (the phone) counts first, the watch adds 11:00-11:30
    assert week["sum"] == {"value": 750.0, "unit": "{steps}"}
    hr = client.get("/api/insights/stats/heart_rate").json()["buckets"][0]
    assert hr["mean"] == {"value": 70.0, "unit": "/min"}


def test_only_the_persons_own_data(client):
    types = client.get("/api/insights/types").json()["types"]
    assert types["steps"]["count"] == 2
    names = [s["name"] for s in client.get("/api/insights/sources").json()["sources"]]
    assert "Bob" not in names
    by_type = client.get("/api/insights/sources", params={"type": "steps"}).json()["sources"]
    assert [s["name"] for s in by_type] == names  # no order of its own: the person-wide one
    assert client.get("/api/insights/sources", params={"type": "stepz"}).status_code == 404
    spans = client.get("/api/insights/explain/steps", params={"day": "2026-04-01"}).json()
    assert {s["source"] for s in spans["spans"]} <= {"Phone", "Watch"}
    assert client.get("/api/insights/findings").json()["note"]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/insights/stats/stepz", {}, 404, "Unknown type"),
        ("/api/insights/stats/steps", {"by": "year"}, 400, "not a bucket size"),
        ("/api/insights/stats/steps", {"from": "yesterday"}, 400, "not a date"),
        ("/api/insights/stats/steps", {"from": "2026-05-01", "to": "2026-04-01"}, 400, "empty"),
        ("/api/insights/stats/steps", {"from": "2020-01-01", "to": "2020-01-02"}, 404, "no steps"),
        ("/api/insights/explain/heart_rate", {"day": "2026-04-01"}, 400, "not summed"),
        ("/api/insights/findings", {"as_of": "2026-99-01"}, 400, "not a date"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, path, params, status, message):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False and message in body["error"]


def test_nothing_without_a_session(pod):
    anonymous = TestClient(create_app(pod.settings, pod=pod))
    for path in ["/api/insights/types", "/api/insights/stats/steps", "/api/insights/findings"]:
        assert anonymous.get(path).status_code == 403


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    type_code=st.text(min_size=1, max_size=30).filter(lambda s: s not in (".", "..")),
    by=st.text(max_size=12),
    start=st.one_of(st.none(), st.text(max_size=12), st.dates().map(str)),
    end=st.one_of(st.none(), st.text(max_size=12), st.dates().map(str)),
)
def test_any_input_is_an_answer_or_a_4xx_never_a_500(client, type_code, by, start, end):
    params = (
        {"by": by}
        | ({"from": start} if start is not None else {})
        | ({"to": end} if end is not None else {})
    )
    for path in (f"/api/insights/stats/{quote(type_code, safe='')}", "/api/insights/stats/steps"):
        r = client.get(path, params=params)
        assert r.status_code < 500, (path, params, r.text)
    r = client.get("/api/insights/explain/steps", params={"day": start or ""})
    assert r.status_code < 500, r.text
