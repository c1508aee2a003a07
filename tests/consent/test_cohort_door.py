"""A study's cohort through the door at once (`access.open_for_cohort`): the same decisions,
the same access-log entries and the same inputs as one person at a time, and nobody who should
be out of it ever in it.

Under tests/consent, so on PostgreSQL it runs as the application's role: row-level security's
`cohort` and `research` scopes are what let the set-based reads and the batched log through.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from healthpod.consent import access, actors, audit
from healthpod.consent import store as consent_store
from healthpod.errors import AccessDenied
from healthpod.insights import corrections, summaries
from healthpod.research import aggregate, studies
from healthpod.store import persons
from healthpod.store import studies as study_rows
from healthpod.store.observations import SampleFilter
from healthpod.store.person_data import for_owner, owner_writer

sys.path.insert(0, str(Path(__file__).parents[1]))
from smart_support import add_samples

BOUNDS = (0.0, 30_000.0)
NOW = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
NAMES = ("ann", "bo", "cy", "di", "ed", "fay", "gus", "hal", "ivy")


def _day_ms(day: int) -> int:
    return int(datetime(2025, 3, day, 12, tzinfo=UTC).timestamp() * 1000)


def _steps(engine, person_id: int, values: list[float]) -> list[int]:
    ids = add_samples(
        engine, person_id, "steps", [(_day_ms(d + 1), v) for d, v in enumerate(values)]
    )
    with engine.begin() as conn:
        summaries.refresh_person(owner_writer(conn, person_id))
    return ids


@pytest.fixture
def study(engine):
    """A study of daily activity. ann, bo and cy are in it; di keeps her steps "only me"; ed
    marked one of his days wrong; fay joined and opted out of all research; gus never joined;
    hal joined and left; ivy joined and then revoked the study's consent herself."""
    with engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Steps Study",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=0,
        )
    ids = {}
    for name in NAMES:
        with engine.begin() as conn:
            ids[name] = persons.add(conn, name, now_ms=0)
    with engine.begin() as conn:
        row = studies.create(
            conn,
            studies.StudyPlan(
                title="Steps",
                sponsor=sponsor.actor.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=2,
                epsilon=100.0,
            ),
            now_ms=0,
        )
        studies.open_study(conn, row.id, now_ms=0)
    for name in NAMES:
        if name != "gus":
            with engine.begin() as conn:
                studies.join(conn, row.id, ids[name], now_ms=1)
    for i, name in enumerate(NAMES):
        sample_ids = _steps(engine, ids[name], [1000.0 * (i + 1) + d for d in range(5)])
        if name == "ed":  # his third day was a car ride
            with engine.begin() as conn:
                write = owner_writer(conn, ids[name])
                corrections.mark_wrong(write, [f"q-{sample_ids[2]}"], "car", now_ms=2)
    with for_owner(engine, engine, ids["di"]).writer() as write:
        write.restrict(["steps"], [], now_ms=2)
    with engine.begin() as conn:
        studies.set_opt_out(conn, ids["fay"], True, now_ms=2)
        studies.leave(conn, row.id, ids["hal"], now_ms=2)
        joined = study_rows.current(conn, row.id, ids["ivy"])
        assert joined is not None
        consent_store.revoke(conn, ids["ivy"], joined.consent_id, now_ms=2)
    with engine.connect() as conn:
        return studies.get(conn, row.id), ids


def _cohort(engine, study_id):
    with engine.connect() as conn:
        return [p.person_id for p in studies.participants(conn, study_id)]


def _new_entries(engine, ids, after):
    found = {}
    for person_id in ids:
        with engine.connect() as conn:
            found[person_id] = audit.entries(conn, person_id, after_seq=after.get(person_id, 0))
    return found


def _heads(engine, ids):
    found = {}
    for person_id in ids:
        with engine.connect() as conn:
            listed = audit.entries(conn, person_id, newest_first=True, limit=1)
        found[person_id] = listed[0].seq if listed else 0
    return found


def _as_logged(entry):
    """What an entry says, without where it sits in its chain."""
    return {k: v for k, v in entry.as_json().items() if k not in ("id", "seq", "hash")}


def test_the_cohort_read_gives_the_same_inputs_and_entries_as_one_person_at_a_time(
    pod, engine, study
):
    row, ids = study
    cohort = _cohort(engine, row.id)
    # Who opted out or left is not in the cohort; who restricted, marked wrong or revoked is.
    assert sorted(cohort) == sorted(ids[n] for n in ("ann", "bo", "cy", "di", "ed", "ivy"))
    args = (pod.engine, pod.reads, row, cohort, "activity", "steps", BOUNDS)
    everyone = list(ids.values())

    before = _heads(engine, everyone)
    one_by_one = aggregate.gather(*args, now_ms=NOW)
    singles = _new_entries(engine, everyone, before)
    before = _heads(engine, everyone)
    batched = aggregate.gather_cohort(*args, now_ms=NOW)
    batch = _new_entries(engine, everyone, before)

    values = {p: v for p, (v, _, _) in one_by_one.items()}
    assert values == {p: v for p, (v, _, _) in batched.items()}
    assert {p: c for p, (_, _, c) in one_by_one.items()} == {
        p: c for p, (_, _, c) in batched.items()
    }
    for person_id in everyone:
        assert [_as_logged(e) for e in singles[person_id]] == [
            _as_logged(e) for e in batch[person_id]
        ]
    # The cohort's rows, as a reader's `daily` gives them, carry the same values.
    opened = access.open_for_cohort(
        pod.engine, pod.reads, cohort, row.actor_id, categories=["activity"], event="x", now_ms=NOW
    )
    steps = SampleFilter(type_codes=frozenset({"steps"}))
    rows = opened.data.daily(steps, limit=365)
    means = opened.data.daily_means(steps, bounds=BOUNDS, limit=365)
    assert set(means) == set(rows)
    for person_id, days in rows.items():
        clamped = [min(max(d.value, BOUNDS[0]), BOUNDS[1]) for d in days]
        assert means[person_id].days == len(clamped)
        assert means[person_id].mean == pytest.approx(sum(clamped) / len(clamped))
    # At most `limit` days a person, the first ones, per month too.
    cut = opened.data.daily_means(steps, bounds=BOUNDS, limit=2, per_month=True)
    for person_id, days in rows.items():
        first = [(d.day, min(max(d.value, BOUNDS[0]), BOUNDS[1])) for d in days[:2]]
        assert cut[person_id].days == len(first)
        assert cut[person_id].mean == pytest.approx(sum(v for _, v in first) / len(first))
        months: dict[str, list[float]] = {}
        for day, value in first:
            months.setdefault(day.strftime("%Y-%m"), []).append(value)
        assert cut[person_id].months == pytest.approx(
            {month: sum(vs) / len(vs) for month, vs in months.items()}
        )
    assert any(len(days) > 2 for days in rows.values())
    assert set(rows) == set(values) and opened.data.person_ids == sorted(
        ids[n] for n in ("ann", "bo", "cy", "di", "ed")
    )
    with opened.data.door(ids["ann"]).reader() as read:
        assert [d.value for d in read.daily(steps, after=None, limit=365)] == [
            d.value for d in rows[ids["ann"]]
        ]
    with pytest.raises(AccessDenied):
        opened.data.door(ids["ivy"])
    # One entry per person asked, each the entry its value refers to.
    assert {p for p, e in batch.items() if e} == set(cohort)
    for person_id, (_, seq, _) in batched.items():
        (entry,) = batch[person_id]
        assert entry.seq == seq and entry.outcome == "allowed"
    # Whoever should not be in the answer is not, and the others are what they measured.
    assert sorted(values) == sorted(ids[n] for n in ("ann", "bo", "cy", "ed"))
    assert values[ids["ann"]] == pytest.approx(1002.0)
    assert values[ids["ed"]] == pytest.approx((5000 + 5001 + 5003 + 5004) / 4)  # not 5002
    (refused,) = batch[ids["ivy"]]
    assert refused.outcome == "denied" and "revoked" in refused.reason
    (kept_back,) = batch[ids["di"]]  # allowed: her restriction keeps the steps out
    assert kept_back.outcome == "allowed"
    with engine.connect() as conn:
        for person_id in everyone:
            assert audit.verify(conn, person_id).ok, person_id


def test_people_outside_the_cohort_never_change_the_inputs(pod, engine, study):
    row, ids = study

    def inputs():
        return aggregate.inputs(
            pod.engine, pod.reads, row.id, type_code="steps", bounds=BOUNDS, now_ms=NOW
        )

    before = inputs()
    assert sorted(before) == sorted(ids[n] for n in ("ann", "bo", "cy", "ed"))
    # Much more data for everyone who is out of it: nothing changes.
    for name in ("di", "fay", "gus", "hal", "ivy"):
        add_samples(engine, ids[name], "steps", [(_day_ms(d), 29_000.0) for d in range(10, 20)])
        with engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, ids[name]))
    assert inputs() == before
    with engine.connect() as conn:
        assert [e.event for e in audit.entries(conn, ids["gus"])] == []  # never even asked
        assert all(
            e.event != aggregate.EVENT for e in audit.entries(conn, ids["fay"])
        )  # opted out: never asked


def test_a_release_over_the_cohort_logs_and_charges_each_contributor_once(pod, engine, study):
    row, ids = study
    answer = aggregate.release(
        pod.engine,
        pod.reads,
        row.id,
        type_code="steps",
        statistic="mean",
        bounds=BOUNDS,
        epsilon=0.5,
        yearly_epsilon=10.0,
        now_ms=NOW,
    )
    assert answer.cohort == 4
    for name in ("ann", "bo", "cy", "ed"):
        with engine.connect() as conn:
            entries = audit.entries(conn, ids[name])
            assert audit.verify(conn, ids[name]).ok
        decided, released = entries[-2:]
        assert decided.event == aggregate.EVENT and released.event == "research.released"
        assert released.refers_to == decided.seq
        assert (
            released.reason == "Study 'Steps' used your daily steps for one average over 4 people"
        )
    with engine.connect() as conn:
        spent = study_rows.spent(conn, list(ids.values()), study_id=row.id, since_ms=0)
    assert spent == {ids[n]: 0.5 for n in ("ann", "bo", "cy", "ed")}
    # The most anyone was charged, by the study and by every study, is what the sums give.
    everyone = list(ids.values())
    with engine.connect() as conn:
        by_study = study_rows.spent(conn, everyone, study_id=row.id, since_ms=0)
        by_year = study_rows.spent(conn, everyone, study_id=None, since_ms=NOW - 1)
        assert study_rows.most_spent(conn, everyone, study_id=row.id, since_ms=NOW - 1) == (
            max(by_study.values()),
            max(by_year.values()),
        )
        assert study_rows.most_spent(conn, everyone, study_id=row.id, since_ms=NOW + 1) == (
            max(spent.values()),
            0.0,
        )
        assert study_rows.most_spent(conn, [], study_id=row.id, since_ms=0) == (0.0, 0.0)


def test_a_refusal_is_logged_for_every_participant_in_one_batch(pod, engine, study):
    row, _ = study
    cohort = _cohort(engine, row.id)
    before = _heads(engine, cohort)
    access.refuse_cohort(
        pod.engine,
        cohort,
        row.actor_id,
        "study 1: too few",
        event=aggregate.EVENT,
        details={"study": row.id},
        now_ms=NOW,
    )
    for person_id, entries in _new_entries(engine, cohort, before).items():
        (entry,) = entries
        assert entry.outcome == "denied" and entry.reason == "study 1: too few"
        with engine.connect() as conn:
            assert audit.verify(conn, person_id).ok


def test_one_entry_per_person_per_batch(engine, study):
    _, ids = study
    draft = audit.Draft(ids["ann"], None, "x", "ok")
    with engine.begin() as conn, pytest.raises(ValueError, match="one entry per person"):
        audit.record_many(conn, [draft, draft], now_ms=NOW)


def test_a_person_with_no_log_yet_gets_a_chain_from_the_start(engine, study):
    row, _ = study
    with engine.begin() as conn:
        newcomer = persons.add(conn, "new", now_ms=0)
    with engine.begin() as conn:
        seqs = audit.record_many(
            conn, [audit.Draft(newcomer, row.actor_id, "x", "ok", {"a": 1})], now_ms=NOW
        )
    assert seqs == {newcomer: 1}
    with engine.connect() as conn:
        assert audit.verify(conn, newcomer).ok
        (entry,) = audit.entries(conn, newcomer)
    assert entry.details == {"a": 1} and entry.prev_hash == audit.GENESIS
