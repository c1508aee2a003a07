"""Differentially private answers (OpenDP): accuracy, the ledger, budgets, cohort, the log."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import opendp.prelude as dp
import pytest
from sqlalchemy import func, select

from healthpod.consent import actors, audit
from healthpod.insights import summaries
from healthpod.pod import now_ms
from healthpod.research import aggregate, studies
from healthpod.store import persons, rls, schema
from healthpod.store.person_data import owner_writer
from smart_support import add_samples


def test_released_means_lie_in_their_interval_and_the_width_is_opendps():
    people = random.Random(15)
    values = [people.uniform(2_000, 14_000) for _ in range(2_000)]  # 2,000 persons' means
    truth = sum(values) / len(values)
    # The bar is 93 of 100; that many releases miss it by chance one run in five
    # (binomial, p = 0.95), so the same rate is asked of 2,000 releases (a miss by chance:
    # about 1 in 50,000 runs).
    releases = 2_000
    inside = 0
    for _ in range(releases):
        answer = aggregate.noisy("mean", (0.0, 30_000.0), 0.01, values)
        low, high = answer.interval
        inside += low <= truth <= high
        # The width is OpenDP's own accuracy for its noise scale at alpha 0.05.
        half = dp.laplacian_scale_to_accuracy(answer.noise_scale, 0.05)
        assert high - low == pytest.approx(2 * half)
        assert answer.epsilon_spent == pytest.approx(0.01, rel=1e-6)
        assert answer.cohort == 2_000
    assert inside >= 0.93 * releases, inside
    # Sensitivity of a mean over n persons bounded to [0, 30000] with one person replaced.
    assert answer.noise_scale == pytest.approx(30_000 / 2_000 / 0.01 * 1, rel=0.01)


def _day_ms(day: int) -> int:
    return int(datetime(2025, 3, day, 12, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def cohort(engine):
    """A study of activity with min cohort 3 and budget 1.0; ann, bo, cy, di joined;
    ed has data but did not join; fay joined and then opted out."""
    now = now_ms()
    with engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Steps Study",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now,
        )
        ids = {
            n: persons.add_new(conn, n, now_ms=now) for n in ("ann", "bo", "cy", "di", "ed", "fay")
        }
        study = studies.create(
            conn,
            studies.StudyPlan(
                title="Steps",
                sponsor=sponsor.actor.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=datetime(2025, 1, 1).date(),
                data_to=datetime(2026, 1, 1).date(),
                min_cohort=3,
                epsilon=1.0,
            ),
            now_ms=now,
        )
        studies.open_study(conn, study.id, now_ms=now)
        for n in ("ann", "bo", "cy", "di", "fay"):
            studies.join(conn, study.id, ids[n], now_ms=now)
        studies.set_opt_out(conn, ids["fay"], True, now_ms=now)
    for i, n in enumerate(("ann", "bo", "cy", "di", "ed", "fay")):
        add_samples(engine, ids[n], "steps", [(_day_ms(d), 1000.0 * (i + 1)) for d in (1, 2, 3)])
    add_samples(engine, ids["ann"], "heart_rate", [(_day_ms(1), 60.0)])
    for person_id in ids.values():
        with engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, person_id))
    return study.id, ids


def _ledger(engine):
    with engine.begin() as conn, rls.scoped(conn, "research"):
        return sorted(conn.execute(select(schema.privacy_ledger.c.person_id)).scalars())


def _entries(engine, person_id, event):
    with engine.begin() as conn:
        rls.act_for(conn, person_id)
        return [e for e in audit.entries(conn, person_id) if e.event == event]


def test_a_release_charges_each_contributor_and_says_so_in_their_log(run, cohort, engine):
    sid, ids = cohort
    args = ("study", "aggregate", str(sid), "--type", "steps", "--bounds", "0,30000")
    out = json.loads(run(*args, "--statistic", "mean", "--epsilon", "0.5", "--json").stdout)
    assert set(out) >= {"value", "epsilon_spent", "noise_scale", "interval"}
    assert out["interval"][0] < out["value"] < out["interval"][1]
    assert out["cohort"] == 4 and out["epsilon_spent"] == pytest.approx(0.5)
    # Who did not join (ed) or opted out (fay) gave nothing and was charged nothing.
    joined = sorted(ids[n] for n in ("ann", "bo", "cy", "di"))
    assert _ledger(engine) == joined
    (said,) = _entries(engine, ids["ann"], "research.released")
    assert said.reason == "Study 'Steps' used your daily steps for one average over 4 people"
    assert _entries(engine, ids["ed"], "research.aggregate") == []
    assert _entries(engine, ids["fay"], "research.released") == []

    run(*args, "--statistic", "count", "--epsilon", "0.5")
    # The study's budget of 1.0 is spent: the next answer is refused, nothing charged.
    refused = run(*args, "--epsilon", "0.1", code=1)
    assert "budget" in refused.stderr and len(_ledger(engine)) == 8
    denied = _entries(engine, ids["bo"], "research.aggregate")[-1]
    assert denied.outcome == "denied" and "budget" in denied.reason


def test_minimum_cohort_and_leaving_mid_study(run, cohort, engine):
    sid, ids = cohort
    args = ("study", "aggregate", str(sid), "--type", "steps", "--bounds", "0,30000")
    run(*args, "--epsilon", "0.2")
    run("study", "leave", str(sid), "--person", "ann")
    run(*args, "--epsilon", "0.2")
    assert _ledger(engine).count(ids["ann"]) == 1  # nothing after leaving
    run("study", "leave", str(sid), "--person", "bo")
    refused = run(*args, "--epsilon", "0.2", code=1)
    assert "minimum of 3" in refused.stderr
    assert len(_ledger(engine)) == 4 + 3


@pytest.mark.parametrize(
    ("change", "message", "code"),
    [
        (("--type", "heart_rate", "--bounds", "0,200"), "outside the study's categories", 2),
        (("--type", "steps", "--bounds", "30000,0"), "LOW below HIGH", 2),
        (("--type", "steps"), "LOW below HIGH", 2),
        (("--type", "steps", "--bounds", "0,30000", "--epsilon", "0"), "above zero", 2),
        (("--type", "steps", "--bounds", "0,30000", "--epsilon", "-1"), "above zero", 2),
        (("--type", "steps", "--bounds", "0,30000", "--epsilon", "5"), "budget", 1),
        (("--type", "steps", "--bounds", "0,1e308"), "within ±1,000,000,000", 2),
        (("--type", "steps", "--bounds", "0,1e-300"), "too close together", 2),
        (("--type", "steps", "--bounds", "0,30000", "--epsilon", "1e-300"), "at least", 2),
    ],
)
def test_bad_requests_are_refused_logged_and_spend_nothing(
    run, cohort, engine, change, message, code
):
    sid, ids = cohort
    args = list(change)
    if "--epsilon" not in args:
        args += ["--epsilon", "0.5"]
    refused = run("study", "aggregate", str(sid), *args, code=code)
    assert message in refused.stderr and "Traceback" not in refused.output
    assert _ledger(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.study_releases)) == 0
    (logged,) = _entries(engine, ids["cy"], "research.aggregate")
    assert logged.outcome == "denied"


def test_a_closed_study_gets_no_answer(run, cohort, engine):
    sid, _ = cohort
    run("study", "close", str(sid))
    refused = run(
        "study",
        "aggregate",
        str(sid),
        "--type",
        "steps",
        "--bounds",
        "0,1",
        "--epsilon",
        "1",
        code=1,
    )
    assert "closed" in refused.stderr and _ledger(engine) == []


def test_who_did_not_join_or_opted_out_never_changes_the_inputs(cohort, engine, pod):
    sid, ids = cohort

    def inputs():
        return aggregate.inputs(
            pod.engine, pod.reads, sid, type_code="steps", bounds=(0.0, 30_000.0), now_ms=now_ms()
        )

    before = inputs()
    assert sorted(before) == sorted(ids[n] for n in ("ann", "bo", "cy", "di"))
    # Someone with a lot of data who never joins, and someone who joins and then opts out.
    with engine.begin() as conn:
        gus = persons.add_new(conn, "gus", now_ms=now_ms())
        hal = persons.add_new(conn, "hal", now_ms=now_ms())
        studies.join(conn, sid, hal, now_ms=now_ms())
    for person_id in (gus, hal):
        add_samples(engine, person_id, "steps", [(_day_ms(d), 29_000.0) for d in (1, 2, 3, 4)])
        with engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, person_id))
    assert inputs()[hal] == 29_000.0  # joined: counted
    with engine.begin() as conn:
        studies.set_opt_out(conn, hal, True, now_ms=now_ms())
    assert inputs() == before
    assert _entries(engine, gus, "research.aggregate") == []  # never even asked


def test_quantiles_and_a_histogram_from_the_command_line(run, cohort, engine):
    sid, ids = cohort
    args = ("study", "aggregate", str(sid), "--type", "steps", "--bounds", "0,30000")
    out = json.loads(
        run(
            *args, "--statistic", "quantile", "--quantiles", "0.5,0.9", "--epsilon", "0.2", "--json"
        ).stdout
    )
    assert [q["q"] for q in out["quantiles"]] == [0.5, 0.9] and out["cohort"] == 4
    text = run(*args, "--statistic", "histogram", "--bins", "0,2500,5000", "--epsilon", "0.2")
    assert "histogram [-inf, 0): " in text.stdout and "over 4 people" in text.stdout
    assert len(_ledger(engine)) == 8
    (said, _) = _entries(engine, ids["di"], "research.released")[::-1]
    assert said.reason.endswith("for one histogram over 4 people")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--statistic", "quantile"), "needs 1 to 9 quantiles"),
        (("--statistic", "quantile", "--quantiles", "0.5,x"), "not a list of numbers"),
        (("--statistic", "quantile", "--quantiles", "0"), "between 0 and 1"),
        (("--statistic", "histogram", "--bins", "5,5"), "increasing order"),
        (("--statistic", "mean", "--quantiles", "0.5"), "only with the statistic quantile"),
    ],
)
def test_bad_quantiles_and_bins_are_refused(run, cohort, engine, change, message):
    sid, _ = cohort
    args = ("study", "aggregate", str(sid), "--type", "steps", "--bounds", "0,30000")
    refused = run(*args, *change, "--epsilon", "0.2", code=2)
    assert message in refused.stderr and _ledger(engine) == []
