"""The consent a person joins a study with names what its answers may be grouped by.

Answers may be given per age band or per sex, which the pod reads from the person's own record
inside the pod, though a study never gets the identity category. The consent says so in plain
words where the person looks at it: its receipt, its FHIR view, its summary (`consent list`),
and the access-log entry of the join. It grants nothing more for saying it: who must NOT see
what, the sponsor still reads no name, birth date or sex through any way in, and every try is
in the person's log. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from fhir.resources.R4B.consent import Consent as FhirConsent
from sqlalchemy import update
from tests.research.test_api import KEY, _backend, _token

from healthpod.consent import access, actors, audit
from healthpod.consent import store as consent_store
from healthpod.consent.fhir_consent import GROUPING_EXTENSION
from healthpod.consent.model import AccessRequest, Action
from healthpod.errors import AccessDenied
from healthpod.pod import now_ms
from healthpod.research import studies
from healthpod.store import persons, rls, schema
from smart_support import live_server

BIRTH, SEX = date(1984, 6, 2), "female"


@pytest.fixture
def joined(engine):
    """Ann (born 1984, female) joined study "Steps" of the backend client Steps Lab; she also
    gave a coach a consent of no study."""
    now = now_ms()
    with engine.begin() as conn:
        lab = _backend(conn, "Steps Lab", KEY)
        coach = actors.register(
            conn,
            name="Coach",
            kind="coach",
            purpose="CAREMGT",
            redirect_uris=["https://c.example/cb"],
            public=False,
            now_ms=now,
        )
        ann = persons.add_new(conn, "ann", now_ms=now)
        rls.act_for(conn, ann)
        conn.execute(
            update(schema.persons)
            .where(schema.persons.c.id == ann)
            .values(birth_date=BIRTH, sex=SEX)
        )
        made = studies.create(
            conn,
            studies.StudyPlan(
                title="Steps",
                sponsor=lab.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=3,
                epsilon=1.0,
            ),
            now_ms=now,
        )
        studies.open_study(conn, made.id, now_ms=now)
        participation = studies.join(conn, made.id, ann, now_ms=now)
        other = consent_store.grant(
            conn,
            ann,
            coach.actor.id,
            consent_store.Scope(frozenset({"activity"})),
            valid_until_ms=None,
            now_ms=now,
        )
    return {
        "ann": ann,
        "lab": lab,
        "study": made.id,
        "consent": participation.consent_id,
        "other": other.id,
    }


def test_the_receipt_and_the_fhir_view_name_age_band_and_sex(run, joined):
    consent = str(joined["consent"])
    receipt = json.loads(run("consent", "show", consent, "--receipt", "--person", "ann").stdout)
    record = receipt["consentRecord"]
    assert record["grouping"]["by"] == ["age-band", "sex"]
    assert "age band" in record["grouping"]["text"] and "sex" in record["grouping"]["text"]
    assert "only the group's name" in record["grouping"]["text"]
    # Naming it widens nothing: the data the consent covers is still the study's alone.
    assert record["dataCategories"] == ["activity"]
    assert receipt["services"][0]["purposes"][0]["piiCategory"] == [
        "Activity (steps, distance, energy, exercise)"
    ]

    shown = json.loads(run("consent", "show", consent, "--fhir", "--person", "ann").stdout)
    FhirConsent.model_validate(shown)
    grouped = [e["valueCode"] for e in shown["extension"] if e["url"] == GROUPING_EXTENSION]
    assert grouped == ["age-band", "sex"]
    assert "age band" in shown["text"]["div"] and "your sex" in shown["text"]["div"]
    codes = [c["coding"][0]["code"] for c in shown["provision"]["code"]]
    assert codes == ["activity"]  # never identity

    listed = json.loads(run("consent", "list", "--person", "ann", "--json").stdout)
    by_id = {c["id"]: c for c in listed}
    assert "grouped by age band or sex" in by_id[joined["consent"]]["summary"]
    assert "identity withheld" in by_id[joined["consent"]]["summary"]
    assert by_id[joined["consent"]]["grouped_by"] == ["age-band", "sex"]


def test_a_consent_of_no_study_says_nothing_of_grouping(run, joined):
    other = str(joined["other"])
    receipt = json.loads(run("consent", "show", other, "--receipt", "--person", "ann").stdout)
    assert "grouping" not in receipt["consentRecord"]
    shown = json.loads(run("consent", "show", other, "--fhir", "--person", "ann").stdout)
    assert all(e["url"] != GROUPING_EXTENSION for e in shown["extension"])
    assert "age band" not in shown["text"]["div"]
    listed = json.loads(run("consent", "list", "--person", "ann", "--json").stdout)
    mine = next(c for c in listed if c["id"] == joined["other"])
    assert "grouped" not in mine["summary"] and mine["grouped_by"] == []


def test_the_join_is_in_the_log_with_the_grouping_and_the_chain_holds(engine, joined):
    with engine.begin() as conn:
        rls.act_for(conn, joined["ann"])
        entries = audit.entries(conn, joined["ann"])
        verified = audit.verify(conn, joined["ann"])
    (entry,) = [e for e in entries if e.event == "study.joined"]
    assert entry.consent_id == joined["consent"] and entry.actor_id == joined["lab"].id
    assert entry.reason.startswith(f"joined study {joined['study']} with consent ")
    assert "grouped by age band or sex" in entry.reason
    assert "identity withheld" in entry.reason
    assert entry.details["grouped_by"] == ["age-band", "sex"]
    assert entry.details["categories"] == ["activity"]
    # Nothing of who Ann is is in the entry itself.
    assert "1984" not in json.dumps(entry.details) and "female" not in entry.reason
    assert verified.ok


def test_the_sponsor_still_reads_no_identity_through_any_way_in(engine, pod, joined):
    """Who must NOT see what: the study's sponsor, with Ann's study consent, gets neither her
    name nor her birth date nor her sex: not by asking the one door for identity (refused and
    logged), not as the Patient any consent shows (its id alone), not through the FHIR API
    with its backend token (which opens only the study's own routes)."""
    ann, lab = joined["ann"], joined["lab"]

    def asking(categories: frozenset[str]) -> AccessRequest:
        return AccessRequest(
            person_id=ann,
            actor_id=lab.id,
            action=Action.READ,
            categories=categories,
            resource_type="Patient",
        )

    with pytest.raises(AccessDenied):
        access.open_for_actor(
            engine, pod.reads, asking(frozenset({"identity"})), event="fhir.read", now_ms=now_ms()
        )
    data = access.open_for_actor(
        engine, pod.reads, asking(frozenset()), event="fhir.read", now_ms=now_ms()
    )
    with data.reader() as read:
        seen = read.identity()
    assert seen is not None and not seen.shown
    assert (seen.name, seen.birth_date, seen.sex) == (None, None, None)

    with live_server(pod) as base:
        token = _token(base, lab.client_id, KEY)
        headers = {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}
        for path in (f"/fhir/Patient/{ann}", "/fhir/Patient", f"/fhir/Patient/{ann}/$everything"):
            got = httpx.get(f"{base}{path}", headers=headers)
            assert got.status_code == 401, (path, got.text)
            assert "1984" not in got.text and SEX not in got.text, path
    with engine.begin() as conn:
        rls.act_for(conn, ann)
        by_lab = [e for e in audit.entries(conn, ann) if e.actor_id == lab.id]
    denied = [e for e in by_lab if e.outcome == "denied"]
    assert len(denied) == 1 and "identity" in denied[0].reason
    assert any(e.outcome == "allowed" and e.event == "fhir.read" for e in by_lab)
