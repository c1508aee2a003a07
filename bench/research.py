"""One differentially private answer over a study's whole cohort: how long it takes.

    .venv/bin/python bench/research.py [--database-url postgresql://user@host/postgres] \\
        [--participants 10000] [--days 30] [--runs 5] \\
        [--statistic mean|count|sum|quantile|histogram] [--group-by month|age-band|sex] [--export]

Builds a pod in a fresh database (a new database on the PostgreSQL server given, or a SQLite
file without one): an open study of daily activity and PARTICIPANTS persons who joined it,
each with DAYS days of daily steps. The rows go straight into the store (persons, the study's
consents and participations, daily summaries; each person's log starts with the consent's
`consent.granted` entry), which is what joining and importing leave behind, without the
import's cost. Then it times RUNS releases of one mean of daily steps (`research.aggregate.
release`: the cohort's decisions, one access-log entry per person, the daily values read in
one query, OpenDP's answer, the ledger and the `research.released` entries) and prints the
build time, the release's p50 (and min, max), the daily rows read, the log entries written
per release and whether sampled persons' chains still verify. With `--export`, it then times
one pseudonymised Group export of the study (`research.records.export`, as
`GET /fhir/Group/{study}/$export` makes its file: the cohort's decisions, the daily rows,
one NDJSON line per record, the `returned` entries) and prints its time, records and size.

The build writes past row-level security (ids drawn by the bench, many persons per
transaction): give a superuser's URL, as for the other benches; the release itself is the
application's code path, and with `--app-role` it connects as a role like the app's, under
row-level security (the bench's own counts stay the superuser's). Target (issue #15): one
aggregate over 10,000 participants on PostgreSQL under 2 s. The machine may be shared: say
what else ran with the figures (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench_support import APP_ROLE, as_app_role, fresh_database
from sqlalchemy import Connection, func, insert, select

from healthpod.config import Settings
from healthpod.consent import actors, audit
from healthpod.fhir.group_export import ndjson_line
from healthpod.keys import access_log_key, research_key
from healthpod.pod import Pod
from healthpod.research import aggregate, records, studies
from healthpod.store import schema

DAY_MS = 86_400_000
FIRST_DAY = date(2025, 3, 1)
BATCH = 2_000


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _steps_type(conn: Connection) -> int:
    st = schema.sample_types
    found = conn.scalar(select(st.c.id).where(st.c.code == "steps"))
    if found is None:
        found = conn.execute(
            insert(st).values(code="steps", kind="quantity", unit="{steps}").returning(st.c.id)
        ).scalar_one()
    return int(found)


def build(pod: Pod, participants: int, days: int, now_ms: int) -> tuple[int, int]:
    """The study and its cohort; returns (study id, daily rows written)."""
    engine = pod.engine
    with engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Steps Study",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://research.example/cb"],
            public=False,
            now_ms=now_ms,
        )
        study = studies.create(
            conn,
            studies.StudyPlan(
                title="Daily steps",
                sponsor=sponsor.actor.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=100,
                epsilon=1_000.0,
                releases="records",
            ),
            now_ms=now_ms,
        )
        studies.open_study(conn, study.id, now_ms=now_ms)
        steps = _steps_type(conn)
    people = random.Random(15)
    written = 0
    for start in range(0, participants, BATCH):
        count = min(BATCH, participants - start)
        with engine.begin() as conn:
            first = int(conn.scalar(select(func.coalesce(func.max(schema.persons.c.id), 0))) or 0)
            ids = list(range(first + 1, first + 1 + count))
            conn.execute(
                insert(schema.persons),
                [{"id": p, "name": f"participant{p:06d}", "created_ms": now_ms} for p in ids],
            )
            consent = {
                "actor_id": study.actor_id,
                "purpose": studies.PURPOSE,
                "categories": ["activity"],
                "actions": ["read"],
                "data_from_ms": study.data_from_ms,
                "data_to_ms": study.data_to_ms,
                "granularity": "daily",
                "valid_from_ms": now_ms,
                "valid_until_ms": None,
                "revoked_ms": None,
                "status": "active",
                "version": 1,
                "created_ms": now_ms,
                "updated_ms": now_ms,
            }
            consent_ids = conn.execute(
                insert(schema.consents).returning(
                    schema.consents.c.id, schema.consents.c.person_id
                ),
                [{**consent, "person_id": p} for p in ids],
            ).all()
            conn.execute(
                insert(schema.study_participants),
                [
                    {"study_id": study.id, "person_id": p, "consent_id": c, "joined_ms": now_ms}
                    for c, p in consent_ids
                ],
            )
            audit.record_many(
                conn,
                [
                    audit.Draft(
                        p,
                        study.actor_id,
                        "consent.granted",
                        "ok",
                        {"version": 1},
                        reason=f"consent {c} granted",
                        consent_id=c,
                        done_by=audit.DoneBy.PERSON,
                    )
                    for c, p in consent_ids
                ],
                now_ms=now_ms,
            )
            rows = []
            for p in ids:
                mean = people.uniform(2_000, 14_000)
                for d in range(days):
                    day = FIRST_DAY + timedelta(days=d)
                    at = _ms(day) + 8 * 3_600_000
                    total = max(0.0, people.gauss(mean, 2_000))
                    rows.append(
                        {
                            "person_id": p,
                            "type_id": steps,
                            "day_on": day,
                            "sample_count": 24,
                            "total": total,
                            "low": None,
                            "high": None,
                            "first_ms": at,
                            "last_ms": at + 12 * 3_600_000,
                            "first_offset_min": 60,
                            "by_source": None,
                        }
                    )
            conn.execute(insert(schema.daily_summaries), rows)
            written += len(rows)
        print(f"  {start + count:,} participants", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return study.id, written


def _log_rows(pod: Pod) -> int:
    # Every person's log together: the bench's own count, as the URL's (super)user.
    with pod.engine.begin() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.access_log)) or 0)


def _time_export(pod: Pod, built: Pod, study_id: int, target: Path, now_ms: int) -> None:
    """One Group export's file, made as the server makes it, timed."""
    with pod.engine.connect() as conn:
        study = studies.get(conn, study_id)
    before = _log_rows(built)
    started, started_cpu = time.perf_counter(), time.process_time()
    with target.open("wb") as out:

        def write(alias: str, row: records.Row, record_id: str) -> None:
            out.write(ndjson_line(alias, row, record_id))

        progress = records.export(
            pod.engine,
            pod.reads,
            study,
            key=research_key(pod.settings),
            job="bench",
            write=write,
            now_ms=now_ms,
        )
    took, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(
        f"  pseudonymised export of {progress.persons:,} participants: {took:.3f} s "
        f"(this process's CPU {cpu:.3f} s), {progress.records:,} records, "
        f"{target.stat().st_size / 1e6:.1f} MB, log entries written: {_log_rows(built) - before:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--statistic", default="mean", choices=["count", "sum", "mean", "quantile", "histogram"]
    )
    parser.add_argument("--group-by", choices=["month", "age-band", "sex"])
    parser.add_argument(
        "--export", action="store_true", help="also time one pseudonymised Group export"
    )
    parser.add_argument(
        "--app-role",
        action="store_true",
        help="release as a role like the app's, under row-level security (PostgreSQL)",
    )
    args = parser.parse_args()
    if args.app_role and args.database_url is None:
        parser.error("--app-role needs --database-url (PostgreSQL)")
    label = "PostgreSQL" if args.database_url else "SQLite"
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(args.database_url, Path(tmp), prefix="bench_research") as url,
    ):
        home = Path(tmp) / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPOD_")}
        subprocess.run(
            [sys.executable, "-m", "healthpod", "--home", str(home), "--database-url", url, "init"],
            check=True,
            capture_output=True,
            env=env,
        )
        settings = Settings(home=home, database_url=url)
        pod = Pod.open(settings)
        audit.use_key(pod.engine, access_log_key(settings))
        now_ms = int(time.time() * 1000)
        print(f"{label}: building {args.participants:,} participants x {args.days} days …")
        started = time.perf_counter()
        study_id, rows = build(pod, args.participants, args.days, now_ms)
        built_s = time.perf_counter() - started
        print(f"  built in {built_s:.1f} s: {rows:,} daily rows")
        built = pod
        if args.app_role:
            pod = Pod.open(Settings(home=home, database_url=as_app_role(url)))
            audit.use_key(pod.engine, access_log_key(settings))
            print(f"  releases connect as {APP_ROLE} (row-level security)")
        times, cpu = [], []
        entries = 0
        answer = None
        for run in range(args.runs):
            before = _log_rows(built)
            started, started_cpu = time.perf_counter(), time.process_time()
            answer = aggregate.release(
                pod.engine,
                pod.reads,
                study_id,
                type_code="steps",
                statistic=args.statistic,
                bounds=(0.0, 30_000.0),
                epsilon=0.1,
                yearly_epsilon=1_000.0,
                now_ms=now_ms + run + 1,
                quantiles=[0.25, 0.5, 0.75] if args.statistic == "quantile" else None,
                bins=[0.0, 5_000.0, 10_000.0, 15_000.0] if args.statistic == "histogram" else None,
                group_by=args.group_by,
            )
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            entries = _log_rows(built) - before
        assert answer is not None
        what = args.statistic + (f" per {args.group_by}" if args.group_by else "")
        with built.engine.connect() as conn:
            sampled = random.Random(1).sample(
                [p.person_id for p in studies.participants(conn, study_id)], 20
            )
            intact = all(audit.verify(conn, p).ok for p in sampled)
        print(
            f"  one {what} over {answer.cohort:,} participants: "
            f"p50 {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} runs; "
            f"this process's CPU p50 {statistics.median(cpu):.3f} s)"
        )
        print(
            f"  daily rows read per release: {rows:,}; "
            f"log entries written per release: {entries:,} "
            f"(a decision and a release entry per participant)"
        )
        print(f"  value {answer.value:.1f}, epsilon spent {answer.epsilon_spent:.3f}")
        print(f"  chains of 20 sampled participants verify: {intact}")
        if args.export:
            _time_export(
                pod, built, study_id, Path(tmp) / "Observation.ndjson", now_ms + args.runs + 1
            )
        pod.engine.dispose()
        built.engine.dispose()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
