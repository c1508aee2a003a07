"""`POST /research/studies/{id}/aggregates` over real HTTP, on SQLite and PostgreSQL.

The sponsor is a backend client (SMART Backend Services): it signs a JWT assertion with its
own RSA key and gets a token at /oauth/token, as a research system on the network would.

Who must NOT get an answer: no token, an expired token, a token of another study's sponsor,
a care provider's delivery token; nor anyone asking a closed study, a study past its end, a
type outside the categories, bounds reversed or missing, epsilon zero, negative or over the
budget. Each refusal is JSON with its status, is logged in the participants' access logs,
and reads nothing and spends nothing.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, date, datetime

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update

from healthpod.consent import actors, audit
from healthpod.insights import summaries
from healthpod.pod import now_ms
from healthpod.research import studies
from healthpod.store import persons, rls, schema
from healthpod.store.person_data import owner_writer
from smart_support import add_samples, live_server

KEY = RSAKey.generate_key(2048, parameters={"kid": "r-1", "alg": "RS384", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "o-1", "alg": "RS384", "use": "sig"})
NAMES = ("ann", "bo", "cy", "di", "ed")


def _day_ms(day: int) -> int:
    return int(datetime(2025, 3, day, 12, tzinfo=UTC).timestamp() * 1000)


def _backend(conn, name: str, key: RSAKey, kind: str = "research") -> actors.Actor:
    return actors.register_backend(
        conn,
        name=name,
        kind=kind,
        purpose="HRESCH" if kind == "research" else "TREAT",
        jwks_uri=None,
        jwks={"keys": [key.as_dict(private=False)]},
        now_ms=now_ms(),
    )


def _study(conn, sponsor: actors.Actor, title: str) -> int:
    made = studies.create(
        conn,
        studies.StudyPlan(
            title=title,
            sponsor=sponsor.client_id,
            duo="HMB",
            categories="activity",
            granularity="daily",
            data_from=date(2025, 1, 1),
            data_to=date(2026, 1, 1),
            min_cohort=3,
            epsilon=1.0,
        ),
        now_ms=now_ms(),
    )
    studies.open_study(conn, made.id, now_ms=now_ms())
    return made.id


@pytest.fixture
def world(engine):
    """Study "Steps" (sponsor: Steps Lab) with ann, bo, cy, di; study "Other" (Other Lab);
    a clinic delivering records; ed has steps but joined nothing."""
    with engine.begin() as conn:
        lab = _backend(conn, "Steps Lab", KEY)
        other = _backend(conn, "Other Lab", OTHER_KEY)
        clinic = _backend(conn, "Clinic", OTHER_KEY, kind="clinic")
        ids = {n: persons.add_new(conn, n, now_ms=now_ms()) for n in NAMES}
        steps = _study(conn, lab, "Steps")
        other_study = _study(conn, other, "Other")
        for n in NAMES[:4]:
            studies.join(conn, steps, ids[n], now_ms=now_ms())
    for i, n in enumerate(NAMES):
        add_samples(engine, ids[n], "steps", [(_day_ms(d), 2000.0 * (i + 1)) for d in (1, 2, 3)])
        with engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, ids[n]))
    return {
        "lab": lab.client_id,
        "other": other.client_id,
        "clinic": clinic.client_id,
        "steps": steps,
        "other_study": other_study,
        "ids": ids,
    }


@pytest.fixture
def base(pod):
    with live_server(pod) as url:
        yield url


def _token(base: str, client_id: str, key: RSAKey, scope: str = "system/*.rs") -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{base}/oauth/token",
        "exp": now + 240,
        "jti": secrets.token_hex(16),
    }
    assertion = jwt.encode(
        {"alg": "RS384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["RS384"]
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
    return str(response.json()["access_token"])


def _ask(base: str, study: int, token: str | None, body: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/research/studies/{study}/aggregates", json=body, headers=headers)


MEAN = {"type": "steps", "statistic": "mean", "bounds": [0, 30000], "epsilon": 0.2}


def _ledger(engine) -> list[int]:
    with engine.begin() as conn, rls.scoped(conn, "research"):
        return sorted(conn.execute(select(schema.privacy_ledger.c.person_id)).scalars())


def _releases(engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.study_releases)) or 0)


def _log(engine, person_id: int, event: str = "research.aggregate"):
    with engine.begin() as conn:
        rls.act_for(conn, person_id)
        return [e for e in audit.entries(conn, person_id) if e.event == event]


def test_the_sponsor_gets_mean_quantiles_and_a_histogram(engine, world, base):
    token = _token(base, world["lab"], KEY)
    mean = _ask(base, world["steps"], token, MEAN)
    assert mean.status_code == 200, mean.text
    answer = mean.json()
    assert set(answer) >= {"value", "epsilon_spent", "noise_scale", "interval", "cohort"}
    assert answer["cohort"] == 4 and answer["epsilon_spent"] == pytest.approx(0.2)
    assert answer["interval"][0] < answer["value"] < answer["interval"][1]

    median = _ask(
        base, world["steps"], token, {**MEAN, "statistic": "quantile", "quantiles": [0.5, 0.9]}
    ).json()
    assert [q["q"] for q in median["quantiles"]] == [0.5, 0.9]
    assert all(0 <= v <= 30000 for v in median["value"]) and median["interval"] is None
    low, high = median["quantiles"][0]["rank_interval"]
    assert 0 <= low < 0.5 < high <= 1

    edges = [0, 5000, 10000]
    histogram = _ask(
        base, world["steps"], token, {**MEAN, "statistic": "histogram", "bins": edges}
    ).json()
    assert histogram["edges"] == edges and len(histogram["bins"]) == 4
    assert [b["from"] for b in histogram["bins"]] == [None, 0, 5000, 10000]
    for b in histogram["bins"]:
        assert b["interval"][0] < b["count"] < b["interval"][1]

    # Each participant was charged for each of the three releases; ed (not joined) never.
    joined = sorted(world["ids"][n] for n in NAMES[:4])
    assert _ledger(engine) == sorted(joined * 3)
    said = _log(engine, world["ids"]["ann"], "research.released")
    assert "one histogram over 4 people" in said[-1].reason
    assert _log(engine, world["ids"]["ed"]) == []


def test_an_answer_per_month_over_http(engine, world, base):
    token = _token(base, world["lab"], KEY)
    response = _ask(base, world["steps"], token, {**MEAN, "epsilon": 0.6, "group_by": "month"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [g["group"] for g in answer["groups"]] == ["2025-03"]
    assert answer["groups"][0]["cohort"] == 4 and len(answer["suppressed"]) == 11
    assert answer["epsilon_per_group"] == pytest.approx(0.05)
    assert _ledger(engine) == sorted(world["ids"][n] for n in NAMES[:4])


def test_no_token_an_expired_token_and_a_delivery_token_get_nothing(engine, world, base):
    missing = _ask(base, world["steps"], None, MEAN)
    assert missing.status_code == 401 and missing.json()["ok"] is False
    assert "Bearer" in missing.headers["www-authenticate"]
    assert _ask(base, world["steps"], "made-up", MEAN).status_code == 401

    token = _token(base, world["lab"], KEY)
    with engine.begin() as conn:
        conn.execute(update(schema.backend_tokens).values(expires_ms=now_ms() - 1))
    expired = _ask(base, world["steps"], token, MEAN)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]

    delivering = _token(base, world["clinic"], OTHER_KEY, scope="system/*.c")
    refused = _ask(base, world["steps"], delivering, MEAN)
    assert refused.status_code == 403 and "scope" in refused.json()["error"]
    assert _ledger(engine) == [] and _releases(engine) == 0


def test_a_care_provider_gets_no_research_scope(world, base):
    with pytest.raises(AssertionError, match="invalid_scope"):
        _token(base, world["clinic"], OTHER_KEY)


def test_another_studys_sponsor_is_refused_and_the_refusal_is_logged(engine, world, base):
    token = _token(base, world["other"], OTHER_KEY)
    refused = _ask(base, world["steps"], token, MEAN)
    assert refused.status_code == 403, refused.text
    assert "not the study's sponsor" in refused.json()["error"]
    assert _ledger(engine) == [] and _releases(engine) == 0
    (logged,) = _log(engine, world["ids"]["ann"])
    assert logged.outcome == "denied" and "sponsor" in logged.reason
    # Its own study is open, but nobody joined it: under the minimum cohort.
    own = _ask(base, world["other_study"], token, MEAN)
    assert own.status_code == 409 and "minimum" in own.json()["error"]
    assert _ask(base, 999, token, MEAN).status_code == 404
    assert _ask(base, "x1", token, MEAN).status_code == 404  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"type": "heart_rate"}, 400, "outside the study's categories"),
        ({"bounds": [30000, 0]}, 400, "LOW below HIGH"),
        ({"bounds": None}, 400, "LOW below HIGH"),
        ({"bounds": [5]}, 400, "LOW below HIGH"),
        ({"epsilon": 0}, 400, "above zero"),
        ({"epsilon": -1}, 400, "above zero"),
        ({"epsilon": 5}, 409, "budget"),
        # Beyond what OpenDP calibrates noise for: refused before anything is read.
        ({"bounds": [0, 1e308]}, 400, "within ±1,000,000,000"),
        ({"bounds": [-1e308, 1e308], "statistic": "sum"}, 400, "within ±1,000,000,000"),
        ({"bounds": [0, 1e-300]}, 400, "too close together"),
        ({"bounds": [0, 5e-324], "statistic": "quantile", "quantiles": [0.5]}, 400, "too close"),
        ({"epsilon": 1e-300}, 400, "at least 0.001"),
        ({"epsilon": 5e-324, "statistic": "count"}, 400, "at least 0.001"),
        ({"statistic": "mode"}, 400, "Unknown statistic"),
        ({"statistic": "quantile"}, 400, "quantiles"),
        ({"statistic": "quantile", "quantiles": [1.5]}, 400, "between 0 and 1"),
        ({"statistic": "histogram", "bins": [10, 5]}, 400, "increasing order"),
        ({"bins": [1, 2]}, 400, "only with the statistic histogram"),
        ({"epsilon": "lots"}, 400, "epsilon"),
        ({"surprise": 1}, 400, "surprise"),
        ({"group_by": "postcode"}, 400, "Unknown grouping"),
    ],
)
def test_a_wrong_question_is_refused_logged_and_spends_nothing(
    engine, world, base, change, status, words
):
    token = _token(base, world["lab"], KEY)
    refused = _ask(base, world["steps"], token, {**MEAN, **change})
    assert refused.status_code == status, refused.text
    body = refused.json()
    assert body["ok"] is False and words in body["error"] and body["status"] == status
    assert _ledger(engine) == [] and _releases(engine) == 0
    (logged,) = _log(engine, world["ids"]["cy"])
    assert logged.outcome == "denied"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[" * 5000 + b"]" * 5000,
        b'{"type": "\\ud800", "bounds": [0, 1], "epsilon": 0.1}',
        b'{"type": "steps\\u0000", "bounds": [0, 1], "epsilon": 0.1}',
        b'{"type": "steps", "bounds": [0, 1], "epsilon": NaN}',
        b"[1, 2]",
    ],
)
def test_a_body_that_is_not_a_question_is_refused(engine, world, base, body):
    token = _token(base, world["lab"], KEY)
    response = httpx.post(
        f"{base}/research/studies/{world['steps']}/aggregates",
        content=body,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["ok"] is False and "Traceback" not in response.text
    assert _ledger(engine) == [] and _releases(engine) == 0


def test_a_closed_study_and_one_past_its_end_give_no_answer(engine, world, base):
    token = _token(base, world["lab"], KEY)
    with engine.begin() as conn:
        conn.execute(
            update(schema.studies)
            .where(schema.studies.c.id == world["steps"])
            .values(end_ms=now_ms() - 1000)
        )
    ended = _ask(base, world["steps"], token, MEAN)
    assert ended.status_code == 409 and "ended" in ended.json()["error"]
    with engine.begin() as conn:
        studies.close_study(conn, world["steps"], now_ms=now_ms())
    closed = _ask(base, world["steps"], token, MEAN)
    assert closed.status_code == 409 and "closed" in closed.json()["error"]
    assert _ledger(engine) == [] and _releases(engine) == 0


def test_the_route_is_in_the_openapi_description(world, base):
    described = httpx.get(f"{base}/openapi.json").json()
    operation = described["paths"]["/research/studies/{study_id}/aggregates"]["post"]
    schema_ = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"type", "statistic", "bounds", "epsilon", "quantiles", "bins"} <= set(
        schema_["properties"]
    )
