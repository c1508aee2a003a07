"""Bulk Data `Group/{study}/$export`: a study's pseudonymised records for its sponsor, over real
HTTP with a real signed JWT (SMART Backend Services), on SQLite and PostgreSQL.

Who must NOT get what: no one but the study's sponsor gets anything; a study of aggregates
only, a closed study or a `_type` outside the study exports nothing (refused, logged); a
person who did not join, opted out or left is in no export; no export holds a name, a
birth date, an identifier, a device name or an id of the pod; nothing outside the study's
categories, period and granularity.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, date, datetime

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from healthpod.consent import audit
from healthpod.consent.actors import register_backend
from healthpod.insights import summaries
from healthpod.keys import research_key
from healthpod.pod import now_ms
from healthpod.research import records, studies
from healthpod.store import persons, rls
from healthpod.store.person_data import owner_writer
from smart_support import add_samples, live_server

KEYS = {
    name: RSAKey.generate_key(2048, parameters={"kid": name, "alg": "RS384", "use": "sig"})
    for name in ("sponsor", "other")
}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _at(day: int, month: int = 3, year: int = 2025) -> int:
    return int(datetime(year, month, day, 12, tzinfo=UTC).timestamp() * 1000)


def _plan(sponsor: str, **changes) -> studies.StudyPlan:
    values = {
        "title": "Steps",
        "sponsor": sponsor,
        "duo": "HMB",
        "categories": "activity",
        "granularity": "daily",
        "data_from": date(2025, 1, 1),
        "data_to": date(2026, 1, 1),
        "min_cohort": 2,
        "epsilon": 1.0,
        "releases": "records",
        **changes,
    }
    return studies.StudyPlan(**values)


@pytest.fixture
def world(pod):
    """Studies of one sponsor: daily records (A), raw records (B), aggregates only (C), and
    one of another sponsor (D). ann, bo and cy joined A and B; ed has data and joined
    nothing; fay joined A and opted out of all research."""
    now = now_ms()
    with pod.engine.begin() as conn:
        clients = {
            name: register_backend(
                conn,
                name=f"{name.title()} Research",
                kind="research",
                purpose="HRESCH",
                jwks_uri=None,
                jwks={"keys": [KEYS[name].as_dict(private=False)]},
                now_ms=now,
            )
            for name in KEYS
        }
        ids = {n: persons.add_new(conn, n, now_ms=now) for n in ("ann", "bo", "cy", "ed", "fay")}
        sponsor = clients["sponsor"].client_id
        made = {
            "A": studies.create(conn, _plan(sponsor), now_ms=now),
            "B": studies.create(conn, _plan(sponsor, granularity="raw"), now_ms=now),
            "C": studies.create(conn, _plan(sponsor, releases="aggregates"), now_ms=now),
            "D": studies.create(conn, _plan(clients["other"].client_id), now_ms=now),
        }
        for study in made.values():
            studies.open_study(conn, study.id, now_ms=now)
        for n in ("ann", "bo", "cy", "fay"):
            studies.join(conn, made["A"].id, ids[n], now_ms=now)
        for n in ("ann", "bo", "cy"):
            studies.join(conn, made["B"].id, ids[n], now_ms=now)
        studies.set_opt_out(conn, ids["fay"], True, now_ms=now)
    for i, n in enumerate(("ann", "bo", "cy", "ed", "fay")):
        steps = [(_at(d), 1000.0 * (i + 1)) for d in (1, 2)]
        add_samples(pod.engine, ids[n], "steps", [*steps, (_at(5, 6, 2024), 77.0)])
        add_samples(pod.engine, ids[n], "heart_rate", [(_at(1), 60.0)])
    for person_id in ids.values():
        with pod.engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, person_id))
    return {k: v.id for k, v in made.items()}, ids, {k: v.client_id for k, v in clients.items()}


def _token(base: str, client_id: str, key_name: str, scope: str = "system/Observation.rs") -> dict:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{base}/oauth/token",
        "exp": now + 240,
        "jti": secrets.token_hex(16),
    }
    assertion = jwt.encode(
        {"alg": "RS384", "kid": key_name, "typ": "JWT"}, claims, KEYS[key_name], ["RS384"]
    )
    response = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def _export(base: str, headers: dict, study_id: int, **params) -> tuple[str, list[dict]]:
    kick = httpx.get(f"{base}/fhir/Group/{study_id}/$export", params=params, headers=headers)
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["content-location"]
    for _ in range(200):
        status = httpx.get(status_url, headers=headers)
        if status.status_code != 202:
            break
        time.sleep(0.05)
    assert status.status_code == 200, status.text
    lines: list[dict] = []
    for output in status.json()["output"]:
        assert output["type"] == "Observation"
        got = httpx.get(output["url"], headers=headers)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("application/fhir+ndjson")
        lines += [json.loads(line) for line in got.text.splitlines() if line.strip()]
    return status_url, lines


def _entries(engine, person_id: int, event: str) -> list[audit.LogEntry]:
    with engine.begin() as conn:
        rls.act_for(conn, person_id)
        return [e for e in audit.entries(conn, person_id) if e.event == event]


def _subjects(lines: list[dict]) -> set[str]:
    return {line["subject"]["reference"].removeprefix("Patient/") for line in lines}


def test_the_sponsor_gets_pseudonymised_daily_records_of_the_participants_only(pod, world):
    made, ids, clients = world
    key = research_key(pod.settings)
    with live_server(pod) as base:
        headers = _token(base, clients["sponsor"], "sponsor")
        status_url, lines = _export(base, headers, made["A"])
        again = _export(base, headers, made["A"])[1]
        raw = _export(base, headers, made["B"])[1]

        deleted = httpx.delete(status_url, headers=headers)
        assert deleted.status_code == 202
        assert httpx.get(status_url, headers=headers).status_code == 404

    alias = {n: records.pseudonym(key, made["A"], ids[n]) for n in ids}
    # Only the current participants; never ed (did not join) nor fay (opted out).
    assert _subjects(lines) == {alias["ann"], alias["bo"], alias["cy"]}
    assert all(HEX32.match(s) for s in _subjects(lines))
    # Daily summaries of steps in the study's period only: two days each, no heart rate,
    # nothing from 2024.
    assert len(lines) == 6
    by_person = {
        n: [x for x in lines if x["subject"]["reference"] == f"Patient/{alias[n]}"]
        for n in ("ann", "bo", "cy")
    }
    assert sorted(x["valueQuantity"]["value"] for x in by_person["bo"]) == [2000.0, 2000.0]
    for line in lines:
        assert line["code"]["coding"][0]["code"] == "55423-8"  # steps (LOINC)
        assert line["effectivePeriod"]["start"].startswith("2025-03-0")
        assert line["method"]["text"].startswith("daily")
        assert HEX32.match(line["id"]) and "device" not in line
        assert line["meta"]["security"][0]["code"] == "PSEUDED"
        text = json.dumps(line)
        for name in ids:
            assert f'"{name}"' not in text and "Watch" not in text
    # The same pseudonyms in the next export of the study; others in another study.
    assert _subjects(again) == _subjects(lines)
    assert sorted(x["id"] for x in again) == sorted(x["id"] for x in lines)
    assert _subjects(raw) == {
        records.pseudonym(key, made["B"], ids[n]) for n in ("ann", "bo", "cy")
    }
    assert not _subjects(raw) & _subjects(lines)
    # The raw study: every measurement, as measured.
    assert len(raw) == 6 and all("effectiveDateTime" in x for x in raw)

    # Each participant's own log says what was sent, with the pod's own ids.
    [first, *_rest] = _entries(pod.engine, ids["ann"], records.EVENT)
    assert first.outcome == "allowed" and first.details["study"] == made["A"]
    [sent] = [e for e in _entries(pod.engine, ids["ann"], "returned") if e.refers_to == first.seq]
    assert sent.details["count"] == 2
    assert all(i.startswith("Observation/d-") for i in sent.details["ids"])
    for n in ("ed", "fay"):
        assert _entries(pod.engine, ids[n], records.EVENT) == []


def test_who_leaves_is_not_in_the_next_export(pod, world):
    made, ids, clients = world
    key = research_key(pod.settings)
    with live_server(pod) as base:
        headers = _token(base, clients["sponsor"], "sponsor")
        before = _export(base, headers, made["A"])[1]
        with pod.engine.begin() as conn:
            studies.leave(conn, made["A"], ids["bo"], now_ms=now_ms())
        after = _export(base, headers, made["A"])[1]
    bo = records.pseudonym(key, made["A"], ids["bo"])
    assert bo in _subjects(before)
    assert bo not in _subjects(after) and len(_subjects(after)) == 2


def _refused(base, headers, study_id, status, words, **params):
    response = httpx.get(f"{base}/fhir/Group/{study_id}/$export", params=params, headers=headers)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]
    assert "content-location" not in response.headers


def test_refusals_are_clear_logged_and_export_nothing(pod, world):
    made, ids, clients = world
    with live_server(pod) as base:
        mine = _token(base, clients["sponsor"], "sponsor")
        other = _token(base, clients["other"], "other")
        # Another study's sponsor gets nothing of this study, and it is logged for each one.
        _refused(base, other, made["A"], 403, "not yours")
        [denied] = _entries(pod.engine, ids["ann"], records.EVENT)
        assert denied.outcome == "denied" and denied.reason.startswith(f"study {made['A']}:")
        assert denied.actor_id is not None
        # ... nor its own sponsor: a study of aggregates only, a type outside the study, the
        # identity, an unknown parameter, a closed study.
        _refused(base, mine, made["C"], 409, "aggregate answers only")
        _refused(base, mine, made["A"], 400, "outside", _type="Condition")
        _refused(base, mine, made["A"], 400, "never gets who a person is", _type="Patient")
        _refused(base, mine, made["A"], 400, "does not support", _since="2025-01-01")
        with pod.engine.begin() as conn:
            studies.close_study(conn, made["B"], now_ms=now_ms())
        _refused(base, mine, made["B"], 409, "closed")
        # No token, a delivery token, an unknown study.
        _refused(base, {}, made["A"], 401, "backend access token")
        delivery = _token(base, clients["sponsor"], "sponsor", scope="system/*.c")
        _refused(base, delivery, made["A"], 403, "scope")
        wildcard = _token(base, clients["sponsor"], "sponsor", scope="system/*.rs")
        assert _export(base, wildcard, made["A"])[1]
        _refused(base, mine, 999_999, 404, "no study")
        _refused(base, mine, "x1", 404, "no study")
        # Another client cannot read or delete this sponsor's job.
        kick = httpx.get(f"{base}/fhir/Group/{made['A']}/$export", headers=mine)
        status_url = kick.headers["content-location"]
        assert httpx.get(status_url, headers=other).status_code == 404
        assert httpx.delete(status_url, headers=other).status_code == 404
        assert httpx.get(status_url + "x", headers=mine).status_code == 404
        for _ in range(200):
            if httpx.get(status_url, headers=mine).status_code == 200:
                break
            time.sleep(0.05)
    logged = _entries(pod.engine, ids["ann"], records.EVENT)
    # Five refusals that concern ann (C she is not in; B is closed but she is in it), then
    # the two exports that were allowed: nothing of hers was read for a refusal.
    assert [e.outcome for e in logged] == ["denied"] * 5 + ["allowed"] * 2


@pytest.mark.parametrize(
    ("language", "what", "why"),
    [
        (
            "en",
            "Pseudonymised records for a study",
            "Refused by the rules of study #3; nothing of yours was read.",
        ),
        (
            "sv",
            "Pseudonymiserade uppgifter till en studie",
            "Nekades enligt reglerna för studie nr 3; inget av ditt lästes.",
        ),
    ],
)
def test_the_person_reads_an_export_in_plain_words(language, what, why):
    from healthpod.web.i18n import Formatter, translations
    from healthpod.web.log_view import LogWords

    catalogue = translations(language)

    def _(message: str, **params: object) -> str:
        text = catalogue.gettext(message)
        return text % params if params else text

    words = LogWords(_, Formatter(language), {7: "Steps Research"})
    entry = {
        "seq": 1,
        "at_ms": 0,
        "done_by": "actor",
        "actor_id": 7,
        "via": None,
        "event": records.EVENT,
        "outcome": "denied",
        "reason": "study 3: Study 3 is not yours: only its sponsor may export it.",
        "consent_id": None,
        "details": {"study": 3},
    }
    row = words.row(entry, None)
    assert (row.who, row.what, row.why) == ("Steps Research", what, why)
