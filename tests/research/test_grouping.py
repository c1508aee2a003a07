"""Answers per month, age band and sex, on SQLite and PostgreSQL: the person stays the privacy
unit, small groups are suppressed (and their persons not charged), the epsilon is split over
the study's months."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from healthpod.consent import actors, audit
from healthpod.insights import summaries
from healthpod.pod import now_ms
from healthpod.research import grouping, studies
from healthpod.store import persons, rls, schema
from healthpod.store.person_data import owner_writer
from smart_support import add_samples

# name: (birth date, sex); age bands on 2025-01-01, the study's first day
PEOPLE = {
    "ann": (date(1990, 6, 1), "female"),  # 34: 30-39
    "bo": (date(1985, 1, 1), "female"),  # 40: 40-49 (the birthday is the first day)
    "cy": (date(1994, 1, 2), "female"),  # 30: 30-39
    "di": (None, "female"),  # unknown
    "ed": (date(1960, 3, 3), "male"),  # 64: 60-69
    "fi": (date(1991, 2, 2), "male"),  # 33: 30-39
    "gu": (None, None),  # unknown, unknown
}


def _ms(month: int, day: int) -> int:
    return int(datetime(2025, month, day, 12, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def study(engine):
    """Seven participants (min cohort 3, budget 2.4, data period 2025): everyone has steps in
    March; ann, bo and cy in April too; only ann in May."""
    now = now_ms()
    with engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Lab",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now,
        )
        made = studies.create(
            conn,
            studies.StudyPlan(
                title="Months",
                sponsor=sponsor.actor.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=3,
                epsilon=2.4,
            ),
            now_ms=now,
        )
        studies.open_study(conn, made.id, now_ms=now)
        ids = {}
        for name, (birth, sex) in PEOPLE.items():
            ids[name] = persons.add_new(conn, name, now_ms=now)
            rls.act_for(conn, ids[name])
            conn.execute(
                update(schema.persons)
                .where(schema.persons.c.id == ids[name])
                .values(birth_date=birth, sex=sex)
            )
            studies.join(conn, made.id, ids[name], now_ms=now)
    for i, name in enumerate(PEOPLE):
        rows = [(_ms(3, d), 1000.0 * (i + 1)) for d in (1, 2)]
        if name in ("ann", "bo", "cy"):
            rows += [(_ms(4, 5), 20_000.0)]
        if name == "ann":
            rows += [(_ms(5, 5), 7_000.0)]
        add_samples(engine, ids[name], "steps", rows)
        with engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, ids[name]))
    return made.id, ids


def _charged(engine) -> dict[int, float]:
    with engine.begin() as conn, rls.scoped(conn, "research"):
        rows = conn.execute(
            select(schema.privacy_ledger.c.person_id, schema.privacy_ledger.c.epsilon)
        )
        found: dict[int, float] = {}
        for person_id, epsilon in rows:
            found[person_id] = found.get(person_id, 0.0) + epsilon
        return found


def _aggregate(run, sid: int, *extra: str, code: int = 0):
    args = ["study", "aggregate", str(sid), "--type", "steps", "--bounds", "0,30000", *extra]
    return run(*args, code=code)


def test_by_month_splits_epsilon_over_the_periods_months_and_suppresses_small_ones(
    run, study, engine
):
    sid, ids = study
    out = json.loads(
        _aggregate(run, sid, "--group-by", "month", "--epsilon", "1.2", "--json").stdout
    )
    assert out["group_by"] == "month"
    assert out["epsilon_per_group"] == pytest.approx(0.1)  # 1.2 over the 12 months of 2025
    released = {g["group"]: g for g in out["groups"]}
    assert set(released) == {"2025-03", "2025-04"}
    assert released["2025-03"]["cohort"] == 7 and released["2025-04"]["cohort"] == 3
    assert "2025-05" in out["suppressed"] and "2025-01" in out["suppressed"]
    # ann, bo, cy were in two released months, the others in one; May (ann alone) costs
    # nothing, nobody more than the epsilon asked.
    charged = _charged(engine)
    assert charged[ids["ann"]] == pytest.approx(0.2) and charged[ids["ed"]] == pytest.approx(0.1)
    assert out["epsilon_spent"] == pytest.approx(0.2) and out["cohort"] == 7
    with engine.begin() as conn:
        rls.act_for(conn, ids["ann"])
        (said,) = [e for e in audit.entries(conn, ids["ann"]) if e.event == "research.released"]
    assert "one average per month" in said.reason


def test_by_sex_and_age_band_each_person_in_one_group(run, study, engine):
    sid, ids = study
    by_sex = json.loads(
        _aggregate(
            run, sid, "--group-by", "sex", "--statistic", "count", "--epsilon", "0.5", "--json"
        ).stdout
    )
    assert [g["group"] for g in by_sex["groups"]] == ["female"]
    assert by_sex["groups"][0]["cohort"] == 4 and by_sex["epsilon_per_group"] == 0.5
    assert sorted(by_sex["suppressed"]) == ["male", "unknown"]
    charged = _charged(engine)
    assert set(charged) == {ids[n] for n in ("ann", "bo", "cy", "di")}  # the female group
    assert all(e == pytest.approx(0.5) for e in charged.values())

    by_age = json.loads(
        _aggregate(run, sid, "--group-by", "age-band", "--epsilon", "0.5", "--json").stdout
    )
    assert [g["group"] for g in by_age["groups"]] == ["30-39"]  # ann, cy, fi
    assert by_age["groups"][0]["cohort"] == 3
    assert by_age["suppressed"] == ["40-49", "60-69", "unknown"]


def test_a_grouped_quantile_and_text_output(run, study):
    sid, _ = study
    text = _aggregate(
        run,
        sid,
        "--group-by",
        "sex",
        "--statistic",
        "quantile",
        "--quantiles",
        "0.5",
        "--epsilon",
        "0.3",
    ).stdout
    assert "per sex" in text and "female:" in text and "male: suppressed" in text


def test_an_unknown_grouping_is_refused(run, study, engine):
    sid, _ = study
    refused = _aggregate(run, sid, "--group-by", "postcode", "--epsilon", "0.1", code=2)
    assert "postcode" in refused.stderr and _charged(engine) == {}


def test_the_months_of_a_period():
    start = int(datetime(2025, 11, 15, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    assert grouping.months(start, end) == ["2025-11", "2025-12", "2026-01"]
    means = grouping.by_month({1: [(date(2025, 11, 1), 10.0), (date(2025, 11, 2), 50.0)]}, (0, 20))
    assert means == {"2025-11": {1: 15.0}}
