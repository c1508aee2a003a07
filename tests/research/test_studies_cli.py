"""`healthpod study ...`: studies, joining, leaving and the EHDS opt-out, on both engines."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from healthpod.consent import actors
from healthpod.consent import store as consent_store
from healthpod.pod import now_ms
from healthpod.store import persons, schema


@pytest.fixture
def sponsor(engine):
    with engine.begin() as conn:
        made = actors.register(
            conn,
            name="Uppsala Steps Study",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now_ms(),
        )
        coach = actors.register(
            conn,
            name="Coach",
            kind="coach",
            purpose="CAREMGT",
            redirect_uris=["https://c.example/cb"],
            public=False,
            now_ms=now_ms(),
        )
        for name in ("ann", "bo", "cy"):
            persons.add_new(conn, name, now_ms=now_ms())
    return made.actor.client_id, coach.actor.client_id


def create(run, client_id, *extra, code=0):
    args = [
        "study",
        "create",
        "--title",
        "Steps",
        "--sponsor",
        client_id,
        "--duo",
        "HMB,NCU",
        "--categories",
        "activity",
        "--from",
        "2025-01-01",
        "--to",
        "2026-01-01",
        "--min-cohort",
        "2",
        "--epsilon",
        "2",
        "--json",
        *extra,
    ]
    return run(*args, code=code)


def test_create_open_join_leave_and_opt_out(run, sponsor, engine):
    made = json.loads(create(run, sponsor[0], "--summary-sv", "Steg").stdout)
    assert made["status"] == "draft"
    sid = str(made["id"])
    # A draft cannot be joined.
    assert "draft" in run("study", "join", sid, "--person", "ann", code=1).stderr
    assert json.loads(run("study", "open", sid, "--json").stdout)["status"] == "open"
    shown = json.loads(run("study", "show", sid, "--json").stdout)
    assert [d["id"] for d in shown["duo"]] == ["DUO:0000006", "DUO:0000046"]
    assert shown["categories"] == ["activity"] and shown["summary"]["sv"] == "Steg"

    joined = json.loads(run("study", "join", sid, "--person", "ann", "--json").stdout)
    run("study", "join", sid, "--person", "bo")
    assert "already" in run("study", "join", sid, "--person", "ann", code=1).stderr
    with engine.connect() as conn:
        ann = persons.find(conn, "ann")
        consent = consent_store.get_consent(conn, ann, joined["consent"])
    assert consent.purpose == "HRESCH" and consent.categories == {"activity"}
    assert consent.granularity.value == "daily" and consent.data_from_ms is not None
    assert json.loads(run("study", "show", sid, "--json").stdout)["participants"] == 2

    left = run("study", "leave", sid, "--person", "ann")
    assert "cannot be called back" in left.stdout
    with engine.connect() as conn:
        assert consent_store.get_consent(conn, ann, joined["consent"]).revoked_ms is not None
    assert "not in study" in run("study", "leave", sid, "--person", "ann", code=1).stderr

    # The EHDS opt-out leaves every study and keeps the person out of new ones.
    out = json.loads(run("study", "opt-out", "--person", "bo", "--json").stdout)
    assert out == {"opted_out": True, "left": [made["id"]]}
    assert "opted out" in run("study", "join", sid, "--person", "bo", code=1).stderr
    assert json.loads(run("study", "show", sid, "--json").stdout)["participants"] == 0
    run("study", "opt-out", "--person", "bo", "--off")
    run("study", "join", sid, "--person", "bo")

    assert json.loads(run("study", "close", sid, "--json").stdout)["status"] == "closed"
    assert "closed" in run("study", "join", sid, "--person", "cy", code=1).stderr
    listed = json.loads(run("study", "list", "--json").stdout)
    assert [s["status"] for s in listed] == ["closed"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--duo", "XYZ"), "Unknown DUO code"),
        (("--duo", "NCU"), "exactly one DUO permission"),
        (("--duo", "DS"), "MONDO"),
        (("--categories", "activity,identity"), "identity"),
        (("--categories", "bogus"), "Unknown data categories"),
        (("--to", "2024-01-01"), "data period is empty"),
        (("--from", "yesterday"), "not a date"),
        (("--min-cohort", "1"), "at least 2"),
        (("--epsilon", "0"), "from 0.001 to 1000"),
        (("--epsilon", "-1"), "from 0.001 to 1000"),
        (("--epsilon", "1e-300"), "from 0.001 to 1000"),
        (("--categories", "activity,conditions"), "measurements only; conditions is a record"),
        (("--categories", "lab-results,medications"), "are records from healthcare"),
        (("--end", "2001-01-01"), "end date has passed"),
    ],
)
def test_bad_studies_are_refused_and_nothing_is_stored(run, sponsor, engine, change, message):
    args = list(change)
    refused = create(run, sponsor[0], *args, code=2)
    assert message in refused.stderr and "Traceback" not in refused.output
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.studies)) == 0


def test_only_a_research_actor_sponsors_and_ds_takes_a_mondo_id(run, sponsor, engine):
    assert "not a research actor" in create(run, sponsor[1], code=1).stderr
    assert "No actor" in create(run, "nobody", code=1).stderr
    made = json.loads(create(run, sponsor[0], "--duo", "ds:mondo:0005148,irb,pub").stdout)
    shown = json.loads(run("study", "show", str(made["id"]), "--json").stdout)
    assert [d["code"] for d in shown["duo"]] == ["DS:MONDO:0005148", "IRB", "PUB"]
    assert "no study" in run("study", "show", "99", code=1).stderr
    assert "no person" in run("study", "join", str(made["id"]), "--person", "zed", code=1).stderr


def test_the_study_consents_fhir_view_carries_the_duo_codes(run, sponsor, engine):
    from fhir.resources.R4B.consent import Consent as FhirConsent

    made = json.loads(create(run, sponsor[0], "--duo", "DS:MONDO:0005148,IRB,NCU").stdout)
    sid = str(made["id"])
    run("study", "open", sid)
    joined = json.loads(run("study", "join", sid, "--person", "ann", "--json").stdout)
    shown = json.loads(
        run("consent", "show", str(joined["consent"]), "--fhir", "--person", "ann").stdout
    )
    FhirConsent.model_validate(shown)
    assert shown["scope"]["coding"][0]["code"] == "research"
    purpose = [(p["system"], p["code"]) for p in shown["provision"]["purpose"]]
    duo = "http://purl.obolibrary.org/obo/duo.owl"
    assert purpose == [
        ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HRESCH"),
        (duo, "DUO:0000007"),
        ("http://purl.obolibrary.org/obo/mondo.owl", "MONDO:0005148"),
        (duo, "DUO:0000021"),
        (duo, "DUO:0000046"),
    ]
    assert "ethics approval required" in shown["text"]["div"]


def test_a_consent_of_no_study_carries_no_duo_code(run, sponsor, engine):
    with engine.begin() as conn:
        ann = persons.find(conn, "ann")
        coach = actors.by_client_id(conn, sponsor[1])
        assert ann is not None and coach is not None
        given = consent_store.grant(
            conn,
            ann,
            coach.id,
            consent_store.Scope(frozenset({"activity"})),
            valid_until_ms=None,
            now_ms=now_ms(),
        )
    shown = json.loads(run("consent", "show", str(given.id), "--fhir", "--person", "ann").stdout)
    assert shown["scope"]["coding"][0]["code"] == "patient-privacy"
    assert [p["code"] for p in shown["provision"]["purpose"]] == ["CAREMGT"]
