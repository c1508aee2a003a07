"""What the person marked wrong counts nowhere and is shared nowhere, on SQLite and PostgreSQL.

A marked sample changes the daily sum and the findings by exactly its value and is absent from
FHIR search, read, totals, `$everything`, Bulk export and share links, for an app holding
every category and for the person's own API alike; it stays in the pod, listed struck through
to the person; unmarking restores everything. Bad input changes nothing.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import date

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.consent.model import Granularity
from healthpod.insights import findings, stats
from healthpod.pod import now_ms
from healthpod.share import links, pseudonyms
from healthpod.store import resources, schema
from healthpod.store.person_data import for_owner
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
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday
READ_ALL = "launch/patient patient/*.rs"


@pytest.fixture
def world(pod, settings):
    engine = pod.engine
    anna = add_person(engine, "anna")
    bob = add_person(engine, "bob")
    steps = add_samples(
        engine, anna, "steps", [(T0 + d * DAY + 7_200_000, 1000 + d) for d in range(3)]
    )
    car_ride = add_samples(engine, anna, "steps", [(T0 + DAY + 10_800_000, 500)])[0]
    # 30 exercise minutes a day for three weeks (2024-01-01 to 01-21)
    exercise = add_samples(
        engine, anna, "exercise_time", [(T0 + d * DAY + 36_000_000, 30) for d in range(21)]
    )
    bp = add_blood_pressure(engine, anna, T0 + DAY + 60_000, 150, 95)
    bob_steps = add_samples(engine, bob, "steps", [(T0 + 5_000, 77)])
    with engine.begin() as conn:
        condition = {
            "resourceType": "Condition",
            "id": "flu",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "6142004"}]},
            "subject": {"reference": "Patient/hospital-1"},
            "onsetDateTime": "2024-01-02",
        }
        resources.write(conn, anna, [resources.ResourceInput(condition)])
    app = add_actor(engine).actor
    base_args = ["--home", str(settings.home), "--database-url", settings.database_url]

    def data(*args, person="Anna"):
        return CliRunner().invoke(cli, [*base_args, "data", *args, "--person", person])

    with live_server(pod) as base:
        live = pod.__class__(pod.settings.model_copy(update={"base_url": base}), pod.engine)
        yield {"base": base, "anna": anna, "bob": bob, "steps": steps, "car_ride": car_ride,
               "exercise": exercise, "bp": bp, "bob_steps": bob_steps, "app": app, "pod": live,
               "data": data}  # fmt: skip


class Caller:
    """The FHIR API over HTTP with a bearer token (an app) or a session (the person)."""

    def __init__(self, world, token: str | None = None) -> None:
        self.fhir = f"{world['base']}/fhir"
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
        kick = self.http.get(f"{self.fhir}/Patient/$export", headers={"Prefer": "respond-async"})
        assert kick.status_code == 202, kick.text
        manifest = self.http.get(kick.headers["content-location"]).json()
        found = []
        for item in manifest["output"]:
            text = self.http.get(item["url"]).text
            found += [f"{r['resourceType']}/{r['id']}" for r in map(json.loads, text.splitlines())]
        return found


def _app(world) -> Caller:
    body = http_tokens(world["base"], world["app"].client_id, "anna", READ_ALL)
    return Caller(world, body["access_token"])


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _link_contents(
    world,
    granularity: Granularity,
    categories: frozenset[str] = frozenset({"activity", "conditions"}),
) -> tuple[str, pseudonyms.LinkIds]:
    """A share link to `categories`, opened as its recipient: the bundle as text, and the
    link's pseudonyms of the pod's ids (the ids in its file)."""
    made = links.create(
        world["pod"],
        world["anna"],
        links.LinkRequest(
            categories=categories,
            expires_ms=now_ms() + DAY,
            granularity=granularity,
        ),
        now_ms=now_ms(),
    )
    payload = json.loads(_b64d(made.shlink.removeprefix("shlink:/")))
    response = httpx.post(payload["url"], json={"recipient": "Dr. Test"})
    assert response.status_code == 200, response.text
    texts = []
    for entry in response.json()["files"]:
        compact = entry.get("embedded") or httpx.get(entry["location"]).text
        protected, _key, iv, ciphertext, tag = compact.split(".")
        plain = AESGCM(_b64d(payload["key"])).decrypt(
            _b64d(iv), _b64d(ciphertext) + _b64d(tag), protected.encode("ascii")
        )
        texts.append(plain.decode())
    return "\n".join(texts), pseudonyms.for_link(world["pod"].settings, made.link)


def _owner(world):
    pod = world["pod"]
    return for_owner(pod.engine, pod.reads, world["anna"])


def _numbers(world) -> tuple[dict[date, float], float, float]:
    """Steps per day, and the weekly-activity finding's last week and mean."""
    with _owner(world).writer() as write:
        per_day = stats.daily_values(write, "steps")
        found = {f.id: f for f in findings.findings(write, as_of=date(2024, 1, 28))}
    weekly = found["weekly-activity-who"].numbers
    return per_day, weekly["last_week"][0], weekly["mean_per_week"][0]


def _marks(world) -> int:
    with as_superuser(world["pod"].engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.marked_wrong)) or 0)


def test_a_sample_marked_wrong_counts_nowhere_and_is_shared_nowhere_until_unmarked(world):
    car_ride = f"q-{world['car_ride']}"
    minutes = f"q-{world['exercise'][20]}"  # 30 minutes on Sunday 2024-01-21
    app, person = _app(world), Caller(world)
    everything = f"Patient/{world['anna']}/$everything"
    days, last_week, mean = _numbers(world)
    assert days[date(2024, 1, 2)] == 1001 + 500 and last_week == 7 * 30 and mean == 7 * 30
    before = {"total": app.total("Observation"), "everything": len(app.ids(everything))}
    assert f"Observation/{car_ride}" in app.ids("Observation")
    daily_link, _ids = _link_contents(world, Granularity.DAILY)
    assert '"value": 1501' in daily_link or '"value":1501' in daily_link

    marked = world["data"]("mark-wrong", car_ride, minutes, "--reason", "a car ride")
    assert marked.exit_code == 0, marked.output
    assert f"{car_ride}: marked wrong" in marked.output

    # the daily sum and the findings change by exactly the sample's value
    days_after, last_week_after, mean_after = _numbers(world)
    assert days_after[date(2024, 1, 2)] == days[date(2024, 1, 2)] - 500
    assert {d: v for d, v in days_after.items() if d != date(2024, 1, 2)} == {
        d: v for d, v in days.items() if d != date(2024, 1, 2)
    }
    assert last_week_after == last_week - 30 and mean_after == pytest.approx(mean - 10)
    # absent from every share: search, read, totals, $everything, Bulk export, share links
    gone = {f"Observation/{car_ride}", f"Observation/{minutes}"}
    for caller in (app, person):
        assert not gone & set(caller.ids("Observation", _count=3))
        assert caller.ids("Observation", _id=car_ride) == []
        assert caller.get(f"Observation/{car_ride}").status_code == 404
        assert caller.total("Observation") == before["total"] - 2
        found = caller.ids(everything)
        assert not gone & set(found) and len(found) == before["everything"] - 2
        exported = caller.export()
        assert exported and not gone & set(exported)
    raw_link, ids = _link_contents(world, Granularity.RAW)
    assert ids.of(f"Observation/{car_ride}") not in raw_link
    assert ids.of(f"Observation/{minutes}") not in raw_link
    assert ids.of(f"Observation/q-{world['exercise'][0]}") in raw_link  # still shared
    daily_link, _ids = _link_contents(world, Granularity.DAILY)
    # The day's value, not any "1501" (the file's ids are random-looking pseudonyms).
    assert not re.search(r'"value": ?1501\b', daily_link) and (
        '"value": 1001' in daily_link or '"value":1001' in daily_link
    )
    # kept in the pod, listed to the person with the reason
    listed = json.loads(world["data"]("list", "--type", "steps", "--json").output)["items"]
    row = next(i for i in listed if i["id"] == car_ride)
    assert row["wrong"] == "a car ride" and row["value"] == 500
    assert set(row) >= {"id", "start", "end", "value", "unit", "source"}
    assert row["start"].startswith("2024-01-02T04:00:00+01:00")
    wrong = json.loads(world["data"]("wrong", "--json").output)["items"]
    assert {w["id"] for w in wrong} == {car_ride, minutes}

    # undo restores everything
    undone = world["data"]("unmark", car_ride, minutes)
    assert undone.exit_code == 0, undone.output
    assert _numbers(world) == (days, last_week, mean)
    assert app.total("Observation") == before["total"]
    assert len(app.ids(everything)) == before["everything"]
    assert app.get(f"Observation/{car_ride}").status_code == 200
    raw_link, ids = _link_contents(world, Granularity.RAW)
    assert ids.of(f"Observation/{car_ride}") in raw_link
    assert _marks(world) == 0
    # each change is in the access log as the person's own act
    log = schema.access_log
    with as_superuser(world["pod"].engine) as conn:
        entries = conn.execute(
            select(log.c.event, log.c.done_by, log.c.details)
            .where(
                log.c.person_id == world["anna"], log.c.event.in_(["mark-wrong", "unmark-wrong"])
            )
            .order_by(log.c.seq)
        ).all()
    assert [(e.event, e.done_by) for e in entries] == [
        ("mark-wrong", "person"),
        ("unmark-wrong", "person"),
    ]
    assert entries[0].details["targets"] == [car_ride, minutes]


def test_a_blood_pressure_a_record_and_a_span(world):
    app = _app(world)
    bp = f"bp-{world['bp']}"
    with _owner(world).writer() as write:
        assert stats.daily_values(write, "blood_pressure_systolic") == {date(2024, 1, 2): 150}
    assert world["data"]("mark-wrong", bp, "Condition/flu").exit_code == 0
    with _owner(world).writer() as write:
        assert stats.daily_values(write, "blood_pressure_systolic") == {}
    assert app.get(f"Observation/{bp}").status_code == 404
    assert app.get("Condition/flu").status_code == 404 and app.ids("Condition") == []
    # a part of the panel is not marked on its own
    listed = json.loads(world["data"]("list", "--type", "blood_pressure", "--json").output)
    assert listed["items"][0]["value"] == "150/95" and listed["items"][0]["wrong"] == ""

    # a span of one type, in each sample's local time (+01:00 here)
    span = ["--type", "steps", "--from", "2024-01-02T04:00", "--to", "2024-01-02T04:30"]
    out = world["data"]("list", *span, "--json")
    assert out.exit_code == 0, (out.output, out.exception)
    shown = json.loads(out.output)["items"]
    assert [i["id"] for i in shown] == [f"q-{world['car_ride']}"]
    assert world["data"]("mark-wrong", *span, "--reason", "car").exit_code == 0
    assert app.get(f"Observation/q-{world['car_ride']}").status_code == 404
    assert app.get(f"Observation/q-{world['steps'][1]}").status_code == 200
    assert world["data"]("unmark", *span).exit_code == 0
    assert world["data"]("unmark", bp, "Condition/flu").exit_code == 0
    assert app.get(f"Observation/{bp}").status_code == 200
    assert _marks(world) == 0


def test_bad_input_is_refused_clearly_and_changes_nothing(world):
    mine = f"q-{world['car_ride']}"
    cases = [
        (("mark-wrong", mine, f"q-{world['bob_steps'][0]}"), "There is no record q-"),
        (("mark-wrong", "Condition/nope"), "There is no record Condition/nope"),
        (("mark-wrong", "hello"), "is not the id of a record"),
        (
            ("mark-wrong", "--type", "steps", "--from", "2024-01-03", "--to", "2024-01-02"),
            "The span ends before it starts",
        ),
        (("mark-wrong", "--type", "steps", "--from", "2024-01-02"), "needs both --from and --to"),
        (
            ("mark-wrong", "--type", "wat", "--from", "2024-01-02", "--to", "2024-01-03"),
            "is not a type of data",
        ),
        (
            ("mark-wrong", "--type", "steps", "--from", "yesterday", "--to", "2024-01-03"),
            "is not a date or a time",
        ),
        (("mark-wrong", mine, "--reason", "x" * 501), "at most 500"),
        (("mark-wrong",), "Name what to mark-wrong"),
        (("unmark", mine), "Not marked wrong"),
    ]
    for args, message in cases:
        result = world["data"](*args)
        assert result.exit_code in (1, 2), (args, result.output)  # 2: bad input
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert _marks(world) == 0
    # bob's id is not anna's, and anna's is not bob's
    result = world["data"]("mark-wrong", mine, person="Bob")
    assert result.exit_code == 1 and "There is no record" in result.output, result.output
    part = world["data"]("list", "--type", "blood_pressure_systolic", "--json")
    assert json.loads(part.output)["items"] == []  # the parts are listed through their panel
    # marking twice is harmless; unmarking twice says so and changes nothing
    assert world["data"]("mark-wrong", mine).exit_code == 0
    again = world["data"]("mark-wrong", mine)
    assert again.exit_code == 0 and "already marked wrong" in again.output
    assert world["data"]("unmark", mine).exit_code == 0
    twice = world["data"]("unmark", mine)
    assert twice.exit_code == 1 and "Not marked wrong" in twice.output
    assert _marks(world) == 0


def test_an_export_finishes_from_its_snapshot_while_data_is_marked_and_restricted(world):
    """A long export (`PersonData.snapshot`) does not see a mark or restriction committed
    while it runs; the next reader does."""
    from healthpod.store.observations import SampleFilter

    pod = world["pod"]
    car_ride = f"q-{world['car_ride']}"
    owner = _owner(world)
    with owner.writer() as write:  # something is marked already: every read leaves marks out
        write.mark_wrong([f"q-{world['exercise'][0]}"], None, now_ms=now_ms())
    with owner.snapshot() as read:
        before = read.count_samples(SampleFilter())
        with owner.writer() as write:  # committed while the export reads on
            write.mark_wrong([car_ride], "car", now_ms=now_ms())
            write.restrict([], [f"q-{world['steps'][0]}"], now_ms=now_ms())
        assert read.count_samples(SampleFilter()) == before
        ids = [r.fhir_id for r in read.samples(SampleFilter(), after=None, limit=1000)]
        assert car_ride in ids
    with owner.reader() as read:
        assert read.count_samples(SampleFilter()) == before - 1
    assert pod.engine is not None


def test_the_persons_own_notes_are_shared_like_any_record_of_their_category(world):
    symptom = world["data"]("note", "Headache after the run", "--symptom", "--when",
                            "2024-01-02T18:00+01:00", "--json")  # fmt: skip
    assert symptom.exit_code == 0, symptom.output
    condition = json.loads(symptom.output)
    assert condition["resourceType"] == "Condition"
    assert condition["recorder"] == {"reference": f"Patient/{world['anna']}"}
    assert condition["code"]["text"] == "Headache after the run"
    about = f"q-{world['car_ride']}"
    noted = world["data"]("note", "Counted in the car", "--about", about, "--json")
    assert noted.exit_code == 0, noted.output
    observation = json.loads(noted.output)
    assert observation["valueString"] == "Counted in the car"
    assert observation["focus"] == [{"reference": f"Observation/{about}"}]
    assert observation["performer"] == [{"reference": f"Patient/{world['anna']}"}]

    app = _app(world)  # every category
    assert f"Condition/{condition['id']}" in app.ids("Condition")
    assert app.get(f"Observation/{observation['id']}").status_code == 200
    conditions_only, _ids = _link_contents(world, Granularity.RAW, frozenset({"conditions"}))
    assert "Headache after the run" in conditions_only
    assert "Counted in the car" not in conditions_only  # a note is another kind of record
    activity_only, _ids = _link_contents(world, Granularity.RAW, frozenset({"activity"}))
    assert "Headache after the run" not in activity_only

    # bad input: a clear message, nothing stored
    with as_superuser(world["pod"].engine) as conn:
        before = conn.scalar(select(func.count()).select_from(schema.resources))
    for args, message in (
        (("note", "   "), "needs some text"),
        (("note", "x" * 2001), "at most 2000"),
        (("note", "mine?", "--about", f"q-{world['bob_steps'][0]}"), "There is no record"),
        (("note", "when?", "--when", "tomorrow"), "is not a date or a time"),
    ):
        result = world["data"](*args)
        assert result.exit_code in (1, 2) and message in result.output, (args, result.output)
    with as_superuser(world["pod"].engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == before
    log = schema.access_log
    with as_superuser(world["pod"].engine) as conn:
        done_by = (
            conn.execute(
                select(log.c.done_by).where(log.c.person_id == world["anna"], log.c.event == "note")
            )
            .scalars()
            .all()
        )
    assert done_by == ["person", "person"]
