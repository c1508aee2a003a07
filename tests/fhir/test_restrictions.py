"""Who must NOT see what the person marked "only me", over real HTTP, on SQLite and PostgreSQL.

An app holding a consent for every category never sees a restricted record or type: not in a
search, a read by id, a `_summary=count` total, `$everything`, a Bulk export or a daily-only
consent's summaries; the person still sees everything; lifting works on the next request.
"""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.store import resources, schema
from smart_support import (
    PASSWORD,
    add_actor,
    add_blood_pressure,
    add_person,
    add_samples,
    http_tokens,
    live_server,
    login_with_form,
)

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
READ_ALL = "launch/patient patient/*.rs"


def _condition(rid: str, onset: str) -> dict:
    return {
        "resourceType": "Condition",
        "id": rid,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        "subject": {"reference": "Patient/hospital-1"},
        "onsetDateTime": onset,
    }


MEDICATION = {
    "resourceType": "MedicationStatement",
    "id": "med-1",
    "status": "active",
    "medicationCodeableConcept": {
        "coding": [{"system": "http://snomed.info/sct", "code": "387458008"}]
    },
    "subject": {"reference": "Patient/hospital-1"},
    "effectiveDateTime": "2024-01-02",
}


@pytest.fixture
def world(pod, settings):
    engine = pod.engine
    anna = add_person(engine, "anna")
    hr = add_samples(
        engine, anna, "heart_rate", [(T0 + d * DAY + 3_600_000, 60 + d) for d in range(3)]
    )
    steps = add_samples(
        engine, anna, "steps", [(T0 + d * DAY + 7_200_000, 1000 + d) for d in range(3)]
    )
    bp = add_blood_pressure(engine, anna, T0 + DAY + 60_000, 150, 95)
    with engine.begin() as conn:
        items = [
            _condition("depression", "2023-05-01"),
            _condition("flu", "2024-01-02"),
            MEDICATION,
        ]
        resources.write(conn, anna, [resources.ResourceInput(r) for r in items])
    app = add_actor(engine).actor
    base_args = ["--home", str(settings.home), "--database-url", settings.database_url]

    def data(*args):
        result = CliRunner().invoke(cli, [*base_args, "data", *args, "--person", "Anna"])
        return result

    with live_server(pod) as base:
        yield {"base": base, "anna": anna, "hr": hr, "steps": steps, "bp": bp, "app": app,
               "pod": pod, "data": data}  # fmt: skip


class Caller:
    """An HTTP client of the FHIR API with a bearer token (an app) or a session (the person)."""

    def __init__(self, world, token: str | None = None) -> None:
        self.fhir = f"{world['base']}/fhir"
        self.anna = world["anna"]
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, base_url=world["base"])
        if token is None:
            login_with_form(self.http, "anna", PASSWORD)

    def get(self, path: str, **params) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.fhir}/{path}"
        return self.http.get(url, params=params)

    def ids(self, path: str, **params) -> list[str]:
        """Every id over every page of a search (or $everything)."""
        found, response = [], self.get(path, **params)
        while True:
            assert response.status_code == 200, response.text
            bundle = response.json()
            found += [
                f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in bundle.get("entry", [])
            ]
            nxt = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
            if not nxt:
                return found
            response = self.get(nxt[0])

    def total(self, path: str, **params) -> int:
        response = self.get(path, _summary="count", **params)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    def export(self) -> list[str]:
        """Every resource of a Bulk `Patient/$export`, as Type/id."""
        kick = self.http.get(f"{self.fhir}/Patient/$export", headers={"Prefer": "respond-async"})
        assert kick.status_code == 202, kick.text
        manifest = self.http.get(kick.headers["content-location"]).json()
        found = []
        for item in manifest["output"]:
            text = self.http.get(item["url"]).text
            found += [f"{r['resourceType']}/{r['id']}" for r in map(json.loads, text.splitlines())]
        return found


def _app(world, change=None) -> Caller:
    body = http_tokens(world["base"], world["app"].client_id, "anna", READ_ALL, change=change)
    return Caller(world, body["access_token"])


def test_restricted_records_are_invisible_to_an_app_with_every_category(world):
    hidden_hr = f"q-{world['hr'][1]}"
    hidden_bp = f"bp-{world['bp']}"
    app, person = _app(world), Caller(world)
    everything = f"Patient/{world['anna']}/$everything"
    before = {
        "obs": app.total("Observation"),
        "cond": app.total("Condition"),
        "everything": len(app.ids(everything)),
    }
    assert f"Observation/{hidden_hr}" in app.ids("Observation")

    result = world["data"]("restrict", hidden_hr, hidden_bp, "Condition/depression")
    assert result.exit_code == 0, result.output

    hidden = {f"Observation/{hidden_hr}", f"Observation/{hidden_bp}", "Condition/depression"}
    # search, every page, and by _id
    assert not hidden & set(app.ids("Observation", _count=2))
    assert not hidden & set(app.ids("Condition"))
    assert app.ids("Observation", _id=hidden_hr) == []
    # read by id: not found, as if it never existed
    for path in hidden:
        assert app.get(path).status_code == 404, path
    # totals do not count them
    assert app.total("Observation") == before["obs"] - 2
    assert app.total("Condition") == before["cond"] - 1
    assert app.total("Observation", code="http://loinc.org|8867-4") == 2
    # $everything and Bulk export
    found = app.ids(everything)
    assert not hidden & set(found) and len(found) == before["everything"] - 3
    exported = app.export()
    assert exported and not hidden & set(exported)
    assert "Condition/flu" in exported
    # the person still sees everything
    assert hidden <= set(person.ids("Observation")) | set(person.ids("Condition"))
    assert person.get(f"Observation/{hidden_hr}").status_code == 200
    assert hidden <= set(person.export())

    # lifted: the very next request sees them again
    result = world["data"]("unrestrict", hidden_hr, hidden_bp, "Condition/depression")
    assert result.exit_code == 0, result.output
    assert app.get(f"Observation/{hidden_hr}").status_code == 200
    assert app.total("Observation") == before["obs"]
    assert len(app.ids(everything)) == before["everything"]


def test_a_restricted_type_is_invisible_to_an_app_with_every_category(world):
    app = _app(world)
    assert world["data"]("restrict", "--type", "Condition", "--type", "steps").exit_code == 0
    assert app.ids("Condition") == [] and app.total("Condition") == 0
    assert app.get("Condition/flu").status_code == 404
    steps = [f"Observation/q-{i}" for i in world["steps"]]
    assert not set(steps) & set(app.ids("Observation"))
    assert app.get(steps[0]).status_code == 404
    assert app.total("Observation", code="http://loinc.org|55423-8") == 0
    found = app.ids(f"Patient/{world['anna']}/$everything")
    assert not any(i.startswith("Condition/") for i in found)
    assert "MedicationStatement/med-1" in found
    exported = app.export()
    assert not any(i.startswith("Condition/") for i in exported) and not set(steps) & set(exported)
    person = Caller(world)
    assert len(person.ids("Condition")) == 2 and set(steps) <= set(person.ids("Observation"))

    assert world["data"]("unrestrict", "--type", "Condition").exit_code == 0
    assert app.total("Condition") == 2
    assert app.total("Observation", code="http://loinc.org|55423-8") == 0  # still restricted


def test_a_daily_only_consent_leaves_out_days_holding_a_restricted_sample(world):
    def daily(pairs):
        return [(k, v) for k, v in pairs if k != "granularity"] + [("granularity", "daily")]

    app = _app(world, change=daily)
    day_ids = app.ids("Observation", code="http://loinc.org|8867-4")
    assert len(day_ids) == 3
    assert world["data"]("restrict", f"q-{world['hr'][1]}", f"bp-{world['bp']}").exit_code == 0
    after = app.ids("Observation", code="http://loinc.org|8867-4")
    assert sorted(after) == sorted([day_ids[0], day_ids[2]])
    assert app.total("Observation", code="http://loinc.org|8867-4") == 2
    assert app.get(day_ids[1]).status_code == 404
    # the blood pressure's day is gone for both of its parts; other days and types remain
    everything = app.ids(f"Patient/{world['anna']}/$everything")
    assert not [i for i in everything if "blood_pressure" in i]
    assert len([i for i in everything if "-steps-" in i]) == 3
    assert world["data"]("unrestrict", f"q-{world['hr'][1]}").exit_code == 0
    assert len(app.ids("Observation", code="http://loinc.org|8867-4")) == 3


def test_restricting_is_the_persons_own_act_in_the_log(world):
    assert world["data"]("restrict", "Condition/flu", "--type", "steps").exit_code == 0
    listed = world["data"]("restrictions", "--json")
    assert [(r["level"], r["target"]) for r in json.loads(listed.stdout)["items"]] == [
        ("type", "steps"),
        ("record", "Condition/flu"),
    ]
    assert world["data"]("unrestrict", "--type", "steps").exit_code == 0
    with as_superuser(world["pod"].engine) as conn:
        log = schema.access_log
        rows = conn.execute(
            select(log.c.event, log.c.done_by, log.c.actor_id, log.c.details)
            .where(log.c.person_id == world["anna"], log.c.event.in_(["restrict", "unrestrict"]))
            .order_by(log.c.seq)
        ).all()
    assert [(r.event, r.done_by, r.actor_id) for r in rows] == [
        ("restrict", "person", None),
        ("unrestrict", "person", None),
    ]
    details = [r.details if isinstance(r.details, dict) else json.loads(r.details) for r in rows]
    assert details[0]["targets"] == ["steps", "Condition/flu"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Name what to restrict"),
        (("q-999999",), "no record q-999999"),
        (("Condition/nope",), "no record Condition/nope"),
        (("d-steps-20240101",), "not the id of a record"),
        (("--type", "Condtion"), "not a type of data"),
        (("--type", "steps", "x y"), "not the id of a record"),
    ],
)
def test_bad_restrictions_change_nothing(world, args, message):
    result = world["data"]("restrict", *args)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output
    listed = world["data"]("restrictions", "--json")
    assert json.loads(listed.stdout)["items"] == []  # not even the valid part of the call


def test_an_id_of_another_person_cannot_be_restricted(world, pod):
    bob = add_person(pod.engine, "bob")
    bob_hr = add_samples(pod.engine, bob, "heart_rate", [(T0, 70)])
    result = world["data"]("restrict", f"q-{bob_hr[0]}")
    assert result.exit_code == 1 and "no record" in result.output
    lifted = world["data"]("unrestrict", "Condition/flu")
    assert lifted.exit_code == 1 and "Not restricted: Condition/flu" in lifted.output


def test_the_consent_screen_and_receipts_say_only_me_exists_not_what(world):
    from smart_support import authorize_params, pkce

    assert world["data"]("restrict", "Condition/depression", "--type", "steps").exit_code == 0
    _app(world)  # a consent to have a receipt of
    with httpx.Client(base_url=world["base"]) as browser:
        login_with_form(browser, "anna", PASSWORD)
        _, challenge = pkce()
        params = authorize_params(
            world["app"].client_id, READ_ALL, challenge, aud=f"{world['base']}/fhir"
        )
        page = browser.get("/oauth/authorize", params=params)
        assert page.status_code == 200
        assert "never shared: 1 types and 1 records" in page.text
        assert "depression" not in page.text and "steps" not in page.text.lower()
        with as_superuser(world["pod"].engine) as conn:
            consent_id = conn.scalar(select(schema.consents.c.id))
        receipts = browser.get(f"/sharing/{consent_id}/receipt").json()
    only_me = receipts[-1]["consentRecord"]["onlyMe"]
    assert (only_me["types"], only_me["records"]) == (1, 1)
    assert "never shared" in only_me["text"] and "depression" not in json.dumps(receipts)
