"""Statistics on constructed data whose answers are known, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from healthpod.errors import InvalidRequest, NotFound
from healthpod.insights.stats import bucket_stats
from healthpod.store.person_data import owner_writer
from insights.builder import Person

WATCH, PHONE = "Alex\u2019s Apple\u00a0Watch", "Alex\u2019s iPhone"


def stats(engine, person, code, by="day", start=None, end=None):
    with engine.begin() as conn:
        return bucket_stats(owner_writer(conn, person.id), code, by, start, end)


def sums(engine, person, code, by="day", start=None, end=None):
    return {b.start: round(b.total, 6) for b in stats(engine, person, code, by, start, end).buckets}


def test_stockholm_spring_forward_day_has_23_hours(engine):
    me = Person(engine)
    # 2026-03-29: at 02:00 +01:00 the clocks jump to 03:00 +02:00.
    for h in range(2):
        me.quantity("steps", f"2026-03-29T{h:02}:00+01:00", f"2026-03-29T{h:02}:59+01:00", 100)
    for h in range(3, 24):
        me.quantity("steps", f"2026-03-29T{h:02}:00+02:00", f"2026-03-29T{h:02}:59+02:00", 100)
    me.quantity("steps", "2026-03-30T08:00+02:00", "2026-03-30T08:30+02:00", 50)
    me.save()
    assert sums(engine, me, "steps") == {"2026-03-29": 2300, "2026-03-30": 50}
    hours = [
        b.start for b in stats(engine, me, "steps", "hour", "2026-03-29", "2026-03-29").buckets
    ]
    assert len(hours) == 23
    assert hours[:3] == [
        "2026-03-29T00:00:00+01:00",
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
    ]


def test_stockholm_fall_back_day_has_25_hours(engine):
    me = Person(engine)
    # 2026-10-25: at 03:00 +02:00 the clocks go back to 02:00 +01:00; 02:00-03:00 happens twice.
    for h in range(3):
        me.quantity("steps", f"2026-10-25T{h:02}:00+02:00", f"2026-10-25T{h:02}:59+02:00", 100)
    for h in range(2, 24):
        me.quantity("steps", f"2026-10-25T{h:02}:00+01:00", f"2026-10-25T{h:02}:59+01:00", 100)
    me.save()
    assert sums(engine, me, "steps") == {"2026-10-25": 2500}
    hourly = stats(engine, me, "steps", "hour", "2026-10-25", "2026-10-25").buckets
    assert len(hourly) == 25
    twice = [b for b in hourly if b.start.startswith("2026-10-25T02:00")]
    assert [(b.start, b.total) for b in twice] == [
        ("2026-10-25T02:00:00+01:00", 100),
        ("2026-10-25T02:00:00+02:00", 100),
    ]


def test_a_trip_counts_each_sample_on_its_own_local_day(engine):
    me = Person(engine)
    # Stockholm in the morning, a flight, New York in the evening (-04:00): the evening walk at
    # 21:00 New York time is 03:00 the next day in Stockholm, but it belongs to the day it was.
    me.quantity("steps", "2026-06-10T08:00+02:00", "2026-06-10T08:30+02:00", 1000)
    me.quantity("steps", "2026-06-10T21:00-04:00", "2026-06-10T21:30-04:00", 500)
    me.quantity("steps", "2026-06-11T07:00-04:00", "2026-06-11T07:30-04:00", 200)
    me.save()
    assert sums(engine, me, "steps") == {"2026-06-10": 1500, "2026-06-11": 200}


def test_a_sample_spanning_midnight_is_split_by_time(engine):
    me = Person(engine)
    me.quantity("steps", "2026-05-01T23:00+02:00", "2026-05-02T01:00+02:00", 120)
    me.quantity("active_energy", "2026-05-01T23:30+02:00", "2026-05-02T00:30+02:00", 40)
    me.save()
    assert sums(engine, me, "steps") == {"2026-05-01": 60, "2026-05-02": 60}
    assert sums(engine, me, "active_energy") == {"2026-05-01": 20, "2026-05-02": 20}


def test_overlapping_sources_count_the_higher_priority_where_they_overlap(engine):
    me = Person(engine)
    me.source(WATCH, priority=1)
    me.source(PHONE, priority=2)
    # Phone 10:00-11:00 600 steps; watch 10:30-11:30 300 steps. The watch wins 10:30-11:30, the
    # phone keeps 10:00-10:30 (half its sample: 300). True total: 600, not 900.
    me.quantity("steps", "2026-04-01T10:00+02:00", "2026-04-01T11:00+02:00", 600, PHONE)
    me.quantity("steps", "2026-04-01T10:30+02:00", "2026-04-01T11:30+02:00", 300, WATCH)
    me.save()
    day = stats(engine, me, "steps").buckets[0]
    assert day.total == pytest.approx(600)
    assert day.by_source == pytest.approx({PHONE: 300, WATCH: 300})
    assert day.count == 2


def test_missing_days_are_missing_not_zero(engine):
    me = Person(engine)
    me.quantity("steps", "2026-01-01T12:00+01:00", "2026-01-01T12:10+01:00", 10)
    me.quantity("steps", "2026-01-05T12:00+01:00", "2026-01-05T12:10+01:00", 20)
    me.save()
    assert sums(engine, me, "steps") == {"2026-01-01": 10, "2026-01-05": 20}
    weeks = sums(engine, me, "steps", "week")
    assert weeks == {"2025-12-29": 10, "2026-01-05": 20}


def test_a_single_sample(engine):
    me = Person(engine)
    me.quantity("body_mass", "2026-02-02T07:00+01:00", None, 71.5, "Scale")
    me.save()
    (day,) = stats(engine, me, "body_mass").buckets
    assert (day.start, day.count, day.low, day.high, day.mean) == (
        "2026-02-02",
        1,
        71.5,
        71.5,
        71.5,
    )
    (month,) = stats(engine, me, "body_mass", "month").buckets
    assert (month.start, month.end, month.mean) == ("2026-02-01", "2026-03-01", 71.5)


def test_discrete_types_give_min_max_mean_per_day(engine):
    me = Person(engine)
    for t, bpm in [("08:00", 60), ("12:00", 90), ("18:00", 75)]:
        me.quantity("heart_rate", f"2026-02-02T{t}+01:00", None, bpm)
    me.quantity("heart_rate", "2026-02-02T23:30+01:00", None, 50, "Phone")
    me.save()
    (day,) = stats(engine, me, "heart_rate").buckets
    assert (day.count, day.low, day.high, day.mean) == (4, 50, 90, 68.75)


def test_sleep_counts_stages_on_the_wake_up_day_and_in_bed_without_stages(engine):
    me = Person(engine)
    stage = "HKCategoryValueSleepAnalysis"
    me.source("Watch", priority=1)
    me.source("Phone", priority=2)
    # Night to 2026-03-03: in bed 22:30-07:00 (phone); watch stages 23:00-06:45 with a wake.
    me.category(
        "sleep_analysis",
        "2026-03-02T22:30+01:00",
        "2026-03-03T07:00+01:00",
        stage + "InBed",
        "Phone",
    )
    me.category(
        "sleep_analysis",
        "2026-03-02T23:00+01:00",
        "2026-03-03T02:00+01:00",
        stage + "AsleepCore",
        "Watch",
    )
    me.category(
        "sleep_analysis",
        "2026-03-03T02:00+01:00",
        "2026-03-03T02:30+01:00",
        stage + "Awake",
        "Watch",
    )
    me.category(
        "sleep_analysis",
        "2026-03-03T02:30+01:00",
        "2026-03-03T06:45+01:00",
        stage + "AsleepDeep",
        "Watch",
    )
    # Night to 2026-03-04: only in bed, 23:00-06:00.
    me.category(
        "sleep_analysis",
        "2026-03-03T23:00+01:00",
        "2026-03-04T06:00+01:00",
        stage + "InBed",
        "Phone",
    )
    me.save()
    nights = stats(engine, me, "sleep_analysis").buckets
    assert [(n.start, n.total) for n in nights] == [("2026-03-03", 435), ("2026-03-04", 420)]
    (week,) = stats(engine, me, "sleep_analysis", "week").buckets
    assert week.mean == pytest.approx(427.5)


def test_unknown_type_says_which_types_exist(engine):
    me = Person(engine)
    me.quantity("steps", "2026-01-01T12:00+01:00", "2026-01-01T12:10+01:00", 10).save()
    with pytest.raises(NotFound, match="Unknown type 'stepz'") as err:
        stats(engine, me, "stepz")
    assert "steps" in (err.value.hint or "")
    with pytest.raises(NotFound, match="no blood glucose data"):
        stats(engine, me, "blood_glucose")


def test_bad_ranges_and_buckets_are_refused(engine):
    me = Person(engine)
    me.quantity("steps", "2026-01-01T12:00+01:00", "2026-01-01T12:10+01:00", 10)
    me.category(
        "sleep_analysis",
        "2026-01-01T23:00+01:00",
        "2026-01-02T06:00+01:00",
        "HKCategoryValueSleepAnalysisInBed",
    )
    me.save()
    with pytest.raises(NotFound, match="no steps data from 2025-01-01 to 2025-02-01"):
        stats(engine, me, "steps", "day", "2025-01-01", "2025-02-01")
    with pytest.raises(InvalidRequest, match="ends before it starts"):
        stats(engine, me, "steps", "day", "2026-02-01", "2026-01-01")
    with pytest.raises(InvalidRequest, match="not a date"):
        stats(engine, me, "steps", "day", "2026-13-01")
    with pytest.raises(InvalidRequest, match="not a bucket size"):
        stats(engine, me, "steps", "fortnight")
    with pytest.raises(InvalidRequest, match="no hourly statistics"):
        stats(engine, me, "sleep_analysis", "hour")


def test_hours_without_dates_show_the_last_day_with_data(engine):
    me = Person(engine)
    me.quantity("steps", "2026-01-01T12:00+01:00", "2026-01-01T12:10+01:00", 10)
    me.quantity("steps", "2026-06-01T08:00+02:00", "2026-06-01T08:10+02:00", 20)
    me.save()
    hourly = stats(engine, me, "steps", "hour")
    assert (hourly.from_on.isoformat(), [b.start for b in hourly.buckets]) == (
        "2026-06-01",
        ["2026-06-01T08:00:00+02:00"],
    )
    with pytest.raises(InvalidRequest, match="at most 92 days"):
        stats(engine, me, "steps", "hour", "2026-01-01")


def test_many_types_read_together_give_what_each_gives_alone(engine):
    """`days_of_types` (the overview's one query for nine types) gives each type's day and
    week buckets as `bucket_stats` does, and the same "no data" answers."""
    from datetime import date, timedelta

    from healthpod.insights.stats import days_of_types

    me = Person(engine)
    first = date(2026, 5, 1)
    for i in range(40):
        day = (first + timedelta(days=i)).isoformat()
        me.quantity("steps", f"{day}T08:00+02:00", f"{day}T08:30+02:00", 1000 + i, WATCH)
        me.quantity("steps", f"{day}T08:10+02:00", f"{day}T08:20+02:00", 300, PHONE)
        me.quantity("heart_rate", f"{day}T09:00+02:00", None, 60 + i % 7)
        me.quantity("heart_rate", f"{day}T21:00+02:00", None, 70 + i % 5)
        if i % 3 == 0:
            me.category(
                "sleep_analysis",
                f"{day}T00:30+02:00",
                f"{day}T07:00+02:00",
                "HKCategoryValueSleepAnalysisAsleepCore",
            )
    # Body mass before and after the window, none inside it: an empty chart, not "no data".
    me.quantity("body_mass", "2026-04-01T07:00+02:00", None, 80)
    me.quantity("body_mass", "2026-07-01T07:00+02:00", None, 81)
    # Resting heart rate only long before it: "no data from … to …".
    me.quantity("resting_heart_rate", "2026-01-05T07:00+01:00", None, 52)
    me.save()
    codes = ["steps", "heart_rate", "sleep_analysis", "body_mass", "resting_heart_rate", "nope"]
    start, end = date(2026, 5, 10), date(2026, 6, 8)
    with engine.begin() as conn:
        write = owner_writer(conn, me.id)
        found = days_of_types(write, codes, start, end)
        assert "nope" not in found
        for code in codes[:-1]:
            for by, lo, hi in [("day", start, end), ("week", date(2026, 6, 8), end)]:
                try:
                    alone = bucket_stats(write, code, by, lo, hi)
                except NotFound as exc:
                    with pytest.raises(NotFound) as together:
                        found[code].stats(by, lo, hi)
                    assert together.value.message == exc.message
                    continue
                together = found[code].stats(by, lo, hi)
                without_sources = tuple(
                    type(b)(b.start, b.end, b.count, b.total, b.low, b.high, b.mean)
                    for b in alone.buckets
                )
                assert together.buckets == without_sources, (code, by)
                assert (together.method, together.unit) == (alone.method, alone.unit)
        assert found["body_mass"].stats("day", start, end).buckets == ()
        with pytest.raises(NotFound):
            found["resting_heart_rate"].stats("day", start, end)
        with pytest.raises(ValueError, match="not within"):
            found["steps"].stats("day", start - timedelta(days=1), end)
