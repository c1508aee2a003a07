"""Sharing (revoke), the access log, export of everything and delete of everything."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.consent import access, actors
from healthpod.consent import store as consent_store
from healthpod.consent.model import AccessRequest, Action, Granularity, Scope
from healthpod.pod import now_ms
from healthpod.store import schema

HTML = {"accept": "text/html"}


def _coach(pod, person_id):
    with pod.engine.begin() as conn:
        actor = actors.register(
            conn,
            name="Coach Anna",
            kind="coach",
            purpose="dpv:ServiceProvision",
            redirect_uris=["http://127.0.0.1:9/cb"],
            public=True,
            now_ms=now_ms(),
        ).actor
    with pod.engine.begin() as conn:
        consent = consent_store.grant(
            conn,
            person_id,
            actor.id,
            Scope(categories=frozenset({"activity"}), granularity=Granularity.DAILY),
            valid_until_ms=now_ms() + 86_400_000,
            now_ms=now_ms(),
        )
    return actor, consent


def _read(pod, person_id, actor_id):
    return access.authorize(
        pod.engine,
        AccessRequest(
            person_id=person_id,
            actor_id=actor_id,
            action=Action.READ,
            categories=frozenset({"activity"}),
            resource_type="Observation",
        ),
        event="fhir.search",
        details={"path": "/fhir/Observation"},
        now_ms=now_ms(),
    )


def test_revoke_refuses_the_next_request_and_the_log_shows_it(logged_in, pod, account, csrf_of):
    actor, consent = _coach(pod, account)
    assert _read(pod, account, actor.id).allowed
    page = logged_in.get("/sharing", headers=HTML)
    assert "Revoke access for Coach Anna" in page.text
    revoked = logged_in.post(
        f"/sharing/{consent.id}/revoke", data={"csrf_token": csrf_of(page.text)}, headers=HTML
    )
    assert revoked.status_code == 200 and "is revoked" in revoked.text
    assert "Revoke access for Coach Anna" not in revoked.text
    assert not _read(pod, account, actor.id).allowed
    log = logged_in.get(f"/access-log?actor={actor.id}&outcome=denied", headers=HTML).text
    assert log.count('data-outcome="denied"') == 1
    assert 'data-outcome="allowed"' not in log
    receipt = logged_in.get(f"/sharing/{consent.id}/receipt")
    receipts = receipt.json()
    assert len(receipts) == 2  # granted, then revoked
    assert len({r["consentReceiptID"] for r in receipts}) == 2


def _rows(html):
    """The access log's rows as (data-by, who, what, result) text, newest first."""
    import re

    rows = re.findall(
        r'<tr data-outcome="[^"]*" data-actor="[^"]*" data-by="(\w+)">(.*?)</tr>', html, re.S
    )
    cells = []
    for by, row in rows:
        texts = [
            re.sub(r"<[^>]+>|\s+", " ", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        cells.append((by, texts[1], texts[2], texts[3]))
    return cells


def test_the_persons_own_acts_are_shown_as_theirs(logged_in, pod, account, csrf_of):
    actor, consent = _coach(pod, account)
    decision = _read(pod, account, actor.id)
    request = AccessRequest(account, actor.id, Action.READ, frozenset({"activity"}))
    access.record_returned(pod.engine, decision, request, ["Observation/9"], now_ms=now_ms())
    page = logged_in.get("/sharing", headers=HTML)
    logged_in.post(
        f"/sharing/{consent.id}/revoke", data={"csrf_token": csrf_of(page.text)}, headers=HTML
    )
    rows = _rows(logged_in.get("/access-log", headers=HTML).text)
    revoked, read, granted, _login = rows[:4]
    assert revoked == ("person", "You", "Consent revoked (Coach Anna)", "Done")
    assert granted[:2] == ("person", "You") and "Coach Anna" in granted[2]
    assert read[:2] == ("actor", "Coach Anna") and read[3] == "Allowed"
    assert "Returned: 1" in read[2] and "Observation/9" in read[2]
    assert all(by != "returned" for by, *_ in rows)  # shown with its decision, not alone
    only_you = _rows(logged_in.get("/access-log?actor=you", headers=HTML).text)
    assert {by for by, *_ in only_you} == {"person"} and len(only_you) >= 3
    logged_in.cookies.set("hp_lang", "sv")
    swedish = _rows(logged_in.get("/access-log", headers=HTML).text)
    assert swedish[0] == ("person", "Du", "Samtycke återkallat (Coach Anna)", "Gjort")
    assert (
        f"Du återkallade samtycke #{consent.id}." in logged_in.get("/access-log", headers=HTML).text
    )


def test_another_persons_consent_cannot_be_revoked(logged_in, pod, csrf_of):
    other = pod.person_id("someone-else")
    _actor, consent = _coach(pod, other)
    page = logged_in.get("/sharing", headers=HTML)
    response = logged_in.post(
        f"/sharing/{consent.id}/revoke", data={"csrf_token": csrf_of(page.text)}, headers=HTML
    )
    assert response.status_code == 404
    with pod.engine.connect() as conn:
        assert consent_store.get_consent(conn, other, consent.id).revoked_ms is None


def test_export_is_a_zip_whose_counts_match_the_store(
    logged_in, pod, account, ten_days, csrf_of, download_export
):
    page = logged_in.get("/data", headers=HTML)
    response = download_export(logged_in, csrf_of(page.text))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    with as_superuser(pod.engine) as conn:

        def count(table):
            return conn.scalar(
                select(func.count()).select_from(table).where(table.c.person_id == account)
            )

        samples = count(schema.quantity_samples) + count(schema.category_samples)
        # A blood pressure is one 85354-9 panel, as the FHIR API returns it: its two
        # component samples are not listed on their own.
        pressures = count(schema.correlations)
        workouts = count(schema.workouts)
    observations = archive.read("fhir/Observation.ndjson").decode().splitlines()
    assert pressures > 0
    expected = samples - pressures
    assert len(observations) == expected == manifest["files"]["fhir/Observation.ndjson"]
    panels = [
        o for o in map(json.loads, observations) if o["code"]["coding"][0]["code"] == "85354-9"
    ]
    assert len(panels) == pressures
    assert json.loads(observations[0])["resourceType"] == "Observation"
    rows = archive.read("csv/workouts.csv").decode().splitlines()
    assert len(rows) - 1 == workouts == manifest["files"]["csv/workouts.csv"]
    assert b"password_hash" not in archive.read("csv/consents.csv")
    assert b"heart_rate" in archive.read("csv/sample_types.csv")


def test_delete_needs_confirmation_then_leaves_nothing_of_the_person(
    logged_in, pod, account, ten_days, csrf_of
):
    _coach(pod, account)
    keep = pod.person_id("neighbour")
    page = logged_in.get("/data", headers=HTML)
    token = csrf_of(page.text)
    wrong = logged_in.post(
        "/data/delete",
        data={"csrf_token": token, "confirm_username": "nobody", "password": ""},
        headers=HTML,
    )
    assert wrong.status_code == 400
    assert 'id="confirm_username-error"' in wrong.text and 'id="password-error"' in wrong.text
    done = logged_in.post(
        "/data/delete",
        data={"csrf_token": token, "confirm_username": "anna", "password": "correct horse battery"},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?deleted=1"
    with as_superuser(pod.engine) as conn:
        for table in schema.metadata.sorted_tables:
            if "person_id" in table.c:
                left = conn.scalar(
                    select(func.count()).select_from(table).where(table.c.person_id == account)
                )
                assert left == 0, table.name
        assert (
            conn.scalar(select(schema.persons.c.id).where(schema.persons.c.id == account)) is None
        )
        assert conn.scalar(select(schema.persons.c.id).where(schema.persons.c.id == keep)) == keep
    after = logged_in.get("/", headers=HTML, follow_redirects=False)
    assert after.status_code == 303
