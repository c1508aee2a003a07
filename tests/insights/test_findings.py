"""Each finding rule on a constructed person who triggers it and one who does not."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from healthpod.insights import report
from healthpod.insights.findings import (
    BP_TYPES,
    NOT_A_DIAGNOSIS,
    RULES,
    Context,
    findings,
    last_day_with_data,
)
from healthpod.insights.stats import daily_summaries
from healthpod.store.person_data import owner_writer
from insights.builder import Person

END = date(2026, 6, 28)  # a Sunday


def days(n: int):
    return [END - timedelta(days=n - 1 - i) for i in range(n)]


def at(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}+02:00"


def found(engine, person, rule):
    with engine.begin() as conn:
        result = [f for f in findings(owner_writer(conn, person.id)) if f.id == rule]
    for f in result:
        doc = f.to_json()
        assert doc["note"] == NOT_A_DIAGNOSIS
        assert doc["reference"]["name"] and doc["data"]
        assert all("unit" in number for number in doc["numbers"].values())
    return result


def daily(person, code, values, clock="07:00", source="Watch"):
    for day, value in zip(days(len(values)), values, strict=True):
        person.quantity(code, at(day, clock), None, value, source)


def test_resting_heart_rate_above_baseline_two_days_in_a_row(engine):
    rnd = random.Random(1)
    raised = Person(engine, "raised")
    daily(
        raised,
        "resting_heart_rate",
        [55 + rnd.choice([-1, 0, 1]) for _ in range(60)] + [66, 67, 68],
    )
    raised.save()
    steady = Person(engine, "steady")
    daily(steady, "resting_heart_rate", [55 + rnd.choice([-1, 0, 1]) for _ in range(63)])
    steady.save()
    (finding,) = found(engine, raised, "resting-heart-rate-above-baseline")
    assert finding.numbers["days_in_a_row"][0] == 3
    assert finding.period == (END - timedelta(days=2), END)
    assert finding.severity == "notice"
    assert found(engine, steady, "resting-heart-rate-above-baseline") == []


def test_hrv_below_baseline(engine):
    rnd = random.Random(2)
    low = Person(engine, "low")
    daily(low, "hrv_sdnn", [50 + rnd.uniform(-4, 4) for _ in range(60)] + [30] * 7)
    low.save()
    usual = Person(engine, "usual")
    daily(usual, "hrv_sdnn", [50 + rnd.uniform(-4, 4) for _ in range(67)])
    usual.save()
    (finding,) = found(engine, low, "hrv-below-baseline")
    assert finding.numbers["mean_7d"][0] == 30
    assert found(engine, usual, "hrv-below-baseline") == []


def test_weekly_activity_against_who(engine):
    idle = Person(engine, "idle")
    daily(idle, "exercise_time", [10] * 28)
    idle.save()
    active = Person(engine, "active")
    daily(active, "exercise_time", [30] * 28)
    active.save()
    (low,) = found(engine, idle, "weekly-activity-who")
    assert (low.severity, low.numbers["mean_per_week"][0]) == ("attention", 70)
    (ok,) = found(engine, active, "weekly-activity-who")
    assert (ok.severity, ok.numbers["mean_per_week"][0]) == ("info", 210)
    assert "within" in ok.text


def sleep_nights(person, hours, midpoints):
    """Nights of `hours` asleep centred on `midpoints` (local hour after midnight)."""
    for day, h, mid in zip(days(len(hours)), hours, midpoints, strict=True):
        wake = datetime.fromisoformat(at(day, "00:00")) + timedelta(hours=mid + h / 2)
        bed = wake - timedelta(hours=h)
        stage = "HKCategoryValueSleepAnalysisAsleepCore"
        person.category("sleep_analysis", bed.isoformat(), wake.isoformat(), stage)


def test_sleep_duration_against_7_to_9_hours(engine):
    short = Person(engine, "short")
    sleep_nights(short, [5.5] * 14, [3] * 14)
    short.save()
    rested = Person(engine, "rested")
    sleep_nights(rested, [8] * 14, [3] * 14)
    rested.save()
    (little,) = found(engine, short, "sleep-duration")
    assert (little.severity, round(little.numbers["mean_per_night"][0], 2)) == ("attention", 5.5)
    (enough,) = found(engine, rested, "sleep-duration")
    assert (enough.severity, enough.numbers["mean_per_night"][0]) == ("info", 8)


def test_sleep_regularity(engine):
    shifting = Person(engine, "shifting")
    sleep_nights(shifting, [8] * 14, [1, 5] * 7)
    shifting.save()
    regular = Person(engine, "regular")
    sleep_nights(regular, [8] * 14, [3] * 14)
    regular.save()
    (irregular,) = found(engine, shifting, "sleep-regularity")
    assert irregular.severity == "attention"
    assert round(irregular.numbers["midpoint_sd"][0]) == 120
    (steady,) = found(engine, regular, "sleep-regularity")
    assert (steady.severity, steady.numbers["midpoint_sd"][0]) == ("info", 0)


def blood_pressures(person, systolic, diastolic, n=10):
    for day in days(n):
        person.quantity("blood_pressure_systolic", at(day, "08:00"), None, systolic, "Cuff")
        person.quantity("blood_pressure_diastolic", at(day, "08:00"), None, diastolic, "Cuff")


def test_blood_pressure_category(engine):
    high = Person(engine, "high")
    blood_pressures(high, 146, 92)
    high.save()
    normal = Person(engine, "normal")
    blood_pressures(normal, 112, 66)
    normal.save()
    (hypertensive,) = found(engine, high, "blood-pressure-category")
    assert hypertensive.severity == "attention"
    assert "hypertension range" in hypertensive.text
    assert "ESC" in hypertensive.reference["name"]
    (fine,) = found(engine, normal, "blood-pressure-category")
    assert (fine.severity, "non-elevated" in fine.text) == ("info", True)


def test_weight_trend(engine):
    losing = Person(engine, "losing")
    daily(losing, "body_mass", [90 - 0.05 * i for i in range(90)], source="Scale")
    losing.save()
    stable = Person(engine, "stable")
    rnd = random.Random(3)
    daily(stable, "body_mass", [80 + rnd.uniform(-0.3, 0.3) for _ in range(90)], source="Scale")
    stable.save()
    (down,) = found(engine, losing, "weight-trend")
    assert down.severity == "info"  # 1.5 kg a month of 88 kg is under 2 %
    assert round(down.numbers["change_per_month"][0], 2) == -1.5
    assert "gone down" in down.text
    (same,) = found(engine, stable, "weight-trend")
    assert "stable" in same.text


def test_a_source_that_stopped_sending(engine):
    stopped = Person(engine, "stopped")
    for day in days(40):
        stopped.quantity("steps", at(day, "12:00"), at(day, "12:10"), 100, "Watch")
        if day <= END - timedelta(days=10):
            stopped.quantity("steps", at(day, "15:00"), at(day, "15:10"), 100, "Phone")
    stopped.save()
    both = Person(engine, "both")
    for day in days(40):
        both.quantity("steps", at(day, "12:00"), at(day, "12:10"), 100, "Watch")
        both.quantity("steps", at(day, "15:00"), at(day, "15:10"), 100, "Phone")
    both.save()
    (finding,) = found(engine, stopped, "source-stopped")
    assert finding.extra["source"] == "Phone"
    assert finding.numbers["days_silent"][0] == 10
    assert found(engine, both, "source-stopped") == []


def test_an_empty_pod_has_no_findings(engine):
    nobody = Person(engine, "nobody")
    with engine.begin() as conn:
        assert findings(owner_writer(conn, nobody.id)) == []


def test_the_report_gives_baselines_and_trends_of_key_types(engine):
    losing = Person(engine, "losing")
    daily(losing, "body_mass", [90 - 0.05 * i for i in range(120)], source="Scale")
    losing.save()
    with engine.begin() as conn:
        doc = report.build(owner_writer(conn, losing.id)).to_json()
    assert doc["as_of"] == END.isoformat()
    weight = doc["types"]["body_mass"]
    assert weight["baseline"]["median"]["unit"] == "kg"
    by_period = {t["period_days"]: t for t in weight["trends"]}
    assert set(by_period) == {30, 90, 365}
    assert by_period[365]["days_with_data"] == 120  # missing days are left out, not zeros
    assert by_period[90]["direction"] == "falling"
    assert by_period[90]["slope_per_week"]["value"] == pytest.approx(-0.35)


def test_reading_ahead_gives_each_rule_what_it_reads_alone(engine):
    """The findings read every rule's daily rows in one query (`Context.read_ahead`); each
    rule must see exactly what it saw reading its own, also rows just outside its window."""
    rnd = random.Random(3)
    me = Person(engine, "everything")
    n = 420  # longer than the longest look back (400 days)
    daily(me, "resting_heart_rate", [rnd.gauss(55, 2) for _ in range(n - 2)] + [70, 72])
    daily(me, "hrv_sdnn", [rnd.gauss(60, 5) for _ in range(n - 5)] + [30] * 5, clock="06:00")
    daily(me, "exercise_time", [rnd.choice([0, 20, 45]) for _ in range(n)], clock="18:00")
    daily(me, "body_mass", [80 + 0.02 * i for i in range(n)], clock="07:30", source="Scale")
    sleep_nights(me, [rnd.uniform(5, 9) for _ in range(40)], [rnd.uniform(2, 4) for _ in range(40)])
    blood_pressures(me, 138, 88, n=40)
    me.save()
    with engine.begin() as conn:
        write = owner_writer(conn, me.id)
        as_of = last_day_with_data(write)
        assert as_of == END
        alone, ahead = Context(write, as_of), Context(write, as_of)
        ahead.read_ahead()
        seen = [rule(ahead) for rule in RULES]
        assert seen == [rule(alone) for rule in RULES]
        assert sum(f is not None for f in seen) == len(RULES)  # every rule had its data
        for codes, from_ms in [
            (["sleep_analysis"], ahead._since["sleep_analysis"]),
            (["blood_pressure_systolic", "blood_pressure_diastolic"], ahead._since[BP_TYPES[0]]),
            (["body_mass"], ahead._since["body_mass"] + 86_400_000),
        ]:
            assert ahead.summaries(codes, from_ms) == daily_summaries(write, codes, from_ms)
        # A window the read-ahead does not cover is read on its own.
        early = ahead._since["sleep_analysis"] - 5 * 86_400_000
        assert ahead.summaries(["sleep_analysis"], early) == daily_summaries(
            write, ["sleep_analysis"], early
        )
        assert len(ahead.summaries(["sleep_analysis"], early)) > len(
            ahead.summaries(["sleep_analysis"], ahead._since["sleep_analysis"])
        )
