"""A person in two studies of one sponsor: each study reads them only under the consent they
joined it with, never under the other study's (whose period, categories or granularity
differ), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from healthpod.consent import actors
from healthpod.insights import summaries
from healthpod.pod import now_ms
from healthpod.research import aggregate, studies
from healthpod.store import persons
from healthpod.store.person_data import owner_writer
from smart_support import add_samples


def _at(year: int, day: int) -> int:
    return int(datetime(year, 3, day, 12, tzinfo=UTC).timestamp() * 1000)


def _plan(sponsor: str, year: int) -> studies.StudyPlan:
    return studies.StudyPlan(
        title=f"Steps {year}",
        sponsor=sponsor,
        duo="HMB",
        categories="activity",
        granularity="daily",
        data_from=date(year, 1, 1),
        data_to=date(year + 1, 1, 1),
        min_cohort=2,
        epsilon=1.0,
    )


def test_a_study_never_reads_a_person_under_another_studys_consent(pod):
    now = now_ms()
    with pod.engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Steps Research",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now,
        ).actor.client_id
        this_year = studies.create(conn, _plan(sponsor, 2025), now_ms=now)
        last_year = studies.create(conn, _plan(sponsor, 2024), now_ms=now)
        ann, bo = (persons.add_new(conn, n, now_ms=now) for n in ("ann", "bo"))
        for study in (this_year, last_year):
            studies.open_study(conn, study.id, now_ms=now)
        studies.join(conn, this_year.id, ann, now_ms=now)
        studies.join(conn, this_year.id, bo, now_ms=now)
        studies.join(conn, last_year.id, ann, now_ms=now)
    # ann walked only in 2024, bo in 2025.
    add_samples(pod.engine, ann, "steps", [(_at(2024, d), 9000.0) for d in (1, 2)])
    add_samples(pod.engine, bo, "steps", [(_at(2025, d), 4000.0) for d in (1, 2)])
    for person_id in (ann, bo):
        with pod.engine.begin() as conn:
            summaries.refresh_person(owner_writer(conn, person_id))

    def inputs(study_id: int) -> dict[int, float]:
        return aggregate.inputs(
            pod.engine,
            pod.reads,
            study_id,
            type_code="steps",
            bounds=(0.0, 30_000.0),
            now_ms=now_ms(),
        )

    assert inputs(this_year.id) == {bo: 4000.0}  # not ann's 2024 steps
    assert inputs(last_year.id) == {ann: 9000.0}
