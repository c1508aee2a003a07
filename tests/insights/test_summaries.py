"""The daily summary table stays true: after imports, racing readers, and priority changes."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.insights import summaries
from healthpod.insights.measures import stored_measures
from healthpod.insights.stats import bucket_stats, daily_summaries
from healthpod.store import schema
from healthpod.store.person_data import owner_writer
from insights.builder import Person


def steps_on(person, day, n, source="Watch"):
    person.quantity("steps", f"{day}T12:00+01:00", f"{day}T12:10+01:00", n, source)


def test_readers_racing_to_catch_up_all_succeed(engine):
    me = Person(engine)
    for d in range(1, 29):
        steps_on(me, f"2026-02-{d:02}", d)
    me.save()
    errors, totals = [], []

    def read():
        try:
            summaries.ensure_fresh(engine, me.id)
            with engine.begin() as conn:
                totals.append(
                    sum(b.total for b in bucket_stats(owner_writer(conn, me.id), "steps").buckets)
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert totals == [sum(range(1, 29))] * 4
    with as_superuser(engine) as conn:
        rows = conn.scalar(select(func.count()).select_from(schema.daily_summaries))
    assert rows == 28


def test_a_second_import_updates_only_what_it_touched(engine):
    me = Person(engine)
    steps_on(me, "2026-02-01", 100)
    me.save()
    with engine.begin() as conn:
        before = {
            b.start: b.total for b in bucket_stats(owner_writer(conn, me.id), "steps").buckets
        }
    steps_on(me, "2026-02-01", 50, "Phone")  # the phone at the same time: the watch wins
    steps_on(me, "2026-02-03", 7)
    import_id = me.save()
    with engine.begin() as conn:
        summaries.summarize_import(owner_writer(conn, me.id), import_id)  # as the importer does
        after = {b.start: b.total for b in bucket_stats(owner_writer(conn, me.id), "steps").buckets}
    assert before == {"2026-02-01": 100}
    assert after == {"2026-02-01": 100, "2026-02-03": 7}


def test_daily_summaries_for_fhir_keep_only_whole_days_in_the_window(engine):
    me = Person(engine)
    steps_on(me, "2026-02-01", 10)
    steps_on(me, "2026-02-02", 20)
    me.quantity("heart_rate", "2026-02-02T08:00+01:00", None, 60)
    me.quantity("heart_rate", "2026-02-02T20:00+01:00", None, 80)
    me.save()
    window = (1769986800000, 1770073200000)  # 2026-02-02T00:00+01:00 .. 2026-02-03T00:00+01:00
    with engine.begin() as conn:
        found = daily_summaries(
            owner_writer(conn, me.id), ["steps", "heart_rate", "body_mass"], *window
        )
    assert sorted((s.type_code, str(s.day_on), s.value, s.unit) for s in found) == [
        ("heart_rate", "2026-02-02", 70.0, "/min"),
        ("steps", "2026-02-02", 20.0, "{steps}"),
    ]
    hr = next(s for s in found if s.type_code == "heart_rate")
    assert (hr.count, hr.low, hr.high) == (2, 60, 80)


def test_catch_up_inside_a_readers_transaction_survives_a_race(engine):
    me = Person(engine)
    steps_on(me, "2026-02-01", 5)
    me.save()
    with as_superuser(engine) as reader:
        reader.execute(select(schema.persons.c.id)).all()  # the reader has read something
        summaries.ensure_fresh(engine, me.id)  # meanwhile another reader caught up
        summaries.catch_up(owner_writer(reader, me.id))  # must not fail, whatever it sees
    with engine.begin() as conn:
        assert [b.total for b in bucket_stats(owner_writer(conn, me.id), "steps").buckets] == [5]


def test_days_computed_window_by_window_equal_all_days_at_once(engine, monkeypatch):
    # Samples over about three windows, some crossing midnight.
    monkeypatch.setattr(summaries, "WINDOW_SAMPLES", 60)
    me = Person(engine)
    me.source("Phone", priority=2)
    for d in range(0, 270, 3):
        day = date(2025, 1, 1) + timedelta(days=d)
        steps_on(me, day.isoformat(), 10 + d)
        me.quantity("steps", f"{day}T23:50+01:00", f"{day + timedelta(days=1)}T00:20+01:00", 30)
        me.quantity("steps", f"{day}T23:55+01:00", f"{day}T23:59+01:00", 7, "Phone")
        me.quantity("heart_rate", f"{day}T08:00+01:00", None, 60 + d % 7)
    import_id = me.save()
    with engine.begin() as conn:
        summaries.summarize_import(owner_writer(conn, me.id), import_id)
    d = schema.daily_summaries
    with as_superuser(engine) as conn:
        stored = {
            (r.type_id, r.day_on.isoformat(), r.sample_count, r.total, r.low, r.high)
            for r in conn.execute(select(d))
        }
        measures = stored_measures(owner_writer(conn, me.id))
        at_once = set()
        for code in ("steps", "heart_rate"):
            m = measures[code]
            first, end = date(2024, 12, 30), date(2025, 12, 31)
            epoch = date(1970, 1, 1)
            rows = summaries.compute_days(
                owner_writer(conn, me.id), m, (first - epoch).days, (end - epoch).days
            )
            at_once |= {
                (
                    m.type_id,
                    (epoch + timedelta(days=r.bucket)).isoformat(),
                    r.count,
                    r.total,
                    r.low,
                    r.high,
                )
                for r in rows
            }
    assert len(stored) == 3 * 90  # every third day: steps, heart rate, and steps past midnight
    assert stored == at_once
