"""Properties of source de-duplication, checked against a brute-force oracle and on the store."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthpod.insights import sweep
from healthpod.insights.stats import bucket_stats
from healthpod.store.person_data import owner_writer
from insights.builder import Person

WIDTH = 500  # ms per bucket in the oracle tests

sample = st.tuples(
    st.integers(0, 1900),  # start ms
    st.integers(0, 400),  # duration ms (0: an instant)
    st.integers(0, 2),  # source rank
    st.floats(0, 1000, allow_nan=False),  # value
)


def pieces_of(samples):
    start = np.array([s for s, _, _, _ in samples], dtype=np.int64)
    end = np.maximum(start + np.array([d for _, d, _, _ in samples], dtype=np.int64), start + 1)
    value = np.array([v for *_, v in samples], dtype=np.float64)
    return sweep.Samples(
        start,
        end,
        np.zeros(len(samples), dtype=np.int64),
        np.array([r for _, _, r, _ in samples], dtype=np.int64),
        value / (end - start),
    )


def oracle(samples):
    """Per bucket: walk every millisecond; the best rank present there counts its rates."""
    result: dict[int, float] = {}
    for t in range(0, 2400):
        active = [(r, v / max(d, 1)) for s, d, r, v in samples if s <= t < s + max(d, 1)]
        if active:
            best = min(r for r, _ in active)
            result[t // WIDTH] = result.get(t // WIDTH, 0.0) + sum(
                x for r, x in active if r == best
            )
    return result


def swept_totals(samples):
    found = sweep.totals(sweep.cut(pieces_of(samples), WIDTH, 0, False), 3)
    return {
        int(k): float(v) for (k, _), v in zip(found.keys, found.by_rank.sum(axis=1), strict=True)
    }


@settings(max_examples=80, deadline=None)
@given(st.lists(sample, min_size=1, max_size=12))
def test_sweep_equals_a_millisecond_by_millisecond_oracle(samples):
    expected, got = oracle(samples), swept_totals(samples)
    assert set(got) == set(expected)
    for bucket, amount in expected.items():
        assert got[bucket] == pytest.approx(amount, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(sample, min_size=1, max_size=12))
def test_deduplicated_total_lies_between_the_best_source_and_the_sum_of_all(samples):
    total = sum(swept_totals(samples).values())
    everything = sum(v for *_, v in samples)
    best = min(r for _, _, r, _ in samples)
    best_alone = sum(v for _, _, r, v in samples if r == best)
    assert total <= everything + 1e-6
    assert total >= best_alone - 1e-6


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 300), st.integers(0, 2), st.floats(0, 1000)),
        min_size=1,
        max_size=10,
    )
)
def test_without_overlaps_it_is_the_plain_sum(runs):
    samples, t = [], 0
    for duration, rank, value in runs:  # back to back: sources never overlap
        samples.append((t, duration, rank, value))
        t += duration
    assert sum(swept_totals(samples).values()) == pytest.approx(sum(v for *_, v in samples))


# --- the same properties through the store, on SQLite and PostgreSQL ----------------------

STOCKHOLM_SUMMER = timezone(timedelta(hours=2))
DAY0 = datetime(2026, 6, 1, tzinfo=STOCKHOLM_SUMMER)

stored_sample = st.tuples(
    st.integers(0, 60 * 24 * 70),  # start minute within 70 days
    st.integers(1, 180),  # minutes long
    st.sampled_from(["Watch", "Phone"]),
    st.integers(0, 2000),
)


def store(engine, samples):
    person = Person(engine, f"p-{uuid.uuid4().hex[:8]}")
    person.source("Watch", priority=1)
    person.source("Phone", priority=2)
    for minute, length, source, value in samples:
        start = DAY0 + timedelta(minutes=minute)
        person.quantity(
            "steps",
            start.isoformat(),
            (start + timedelta(minutes=length)).isoformat(),
            value,
            source,
        )
    person.save()
    return person


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(stored_sample, min_size=1, max_size=40, unique_by=lambda s: s[:3]))
def test_days_add_up_to_weeks_and_months_and_respect_the_bounds(engine, samples):
    person = store(engine, samples)
    with engine.begin() as conn:
        by = {
            b: bucket_stats(owner_writer(conn, person.id), "steps", b)
            for b in ("day", "week", "month")
        }
    days = sum(b.total for b in by["day"].buckets)
    assert sum(b.total for b in by["week"].buckets) == pytest.approx(days)
    assert sum(b.total for b in by["month"].buckets) == pytest.approx(days)
    watch = sum(v for *_, s, v in samples if s == "Watch")
    assert days <= sum(v for *_, v in samples) + 1e-6
    assert days >= watch - 1e-6


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 60 * 24 * 20), st.floats(30, 200, allow_nan=False)),
        min_size=1,
        max_size=40,
        unique_by=lambda r: r[0],
    )
)
def test_bucket_means_lie_between_min_and_max(engine, readings):
    person = Person(engine, f"p-{uuid.uuid4().hex[:8]}")
    for minute, bpm in readings:
        at = (DAY0 + timedelta(minutes=minute)).isoformat()
        person.quantity("heart_rate", at, None, bpm)
    person.save()
    with engine.begin() as conn:
        for by in ("hour", "day", "week", "month"):
            for b in bucket_stats(owner_writer(conn, person.id), "heart_rate", by).buckets:
                assert b.low - 1e-9 <= b.mean <= b.high + 1e-9
