"""Daily rows from the samples an import holds in memory equal those from the store's rows.

An import that has just added every sample of a type computes the type's daily rows from the
arrays it holds (`sweep.Columns`) instead of reading them back; the two must never disagree.
"""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthpod.insights import summaries
from healthpod.insights.aggregate import DAY_MS, BucketRow
from healthpod.insights.measures import stored_measures
from healthpod.insights.sources import ranked_source_ids
from healthpod.insights.sweep import Columns
from healthpod.store.person_data import owner_writer
from insights.builder import Person

SOURCES = {"Watch": 1, "Phone": 2, "Scale": 3}
EPOCHS = {
    "2026, across the spring DST change": 1_774_569_600_000,  # 2026-03-27 UTC
    "around 1970 (instants before it)": -2 * DAY_MS,
}

held_sample = st.tuples(
    st.integers(0, 4 * 24 * 60),  # start minute within four days
    st.integers(0, 6 * 60),  # minutes long (0: an instant)
    st.sampled_from([-600, -300, 0, 60, 120, 330, 840]),  # the local offset
    st.sampled_from(sorted(SOURCES)),
    st.integers(0, 8000).map(lambda q: q / 4),  # quarters: sums exact in any order
)


def _store(engine, code, base_ms, samples) -> Person:
    person = Person(engine, f"p-{uuid.uuid4().hex[:8]}")
    for name, priority in SOURCES.items():
        person.source(name, priority=priority)
    for minute, length, offset, source, value in samples:
        start = base_ms + minute * 60_000
        person.quantity_ms(code, start, start + length * 60_000, offset, value, source)
    person.save()
    return person


def _held(person: Person, base_ms, samples) -> Columns:
    """The samples as an import would hold them, in an order of their own."""
    shuffled = list(samples)
    random.Random(len(samples)).shuffle(shuffled)
    start = np.array([base_ms + m * 60_000 for m, *_ in shuffled], dtype=np.int64)
    return Columns(
        start,
        start + np.array([length * 60_000 for _, length, *_ in shuffled], dtype=np.int64),
        np.array([offset for _, _, offset, _, _ in shuffled], dtype=np.int64),
        np.array([person.sources[source] for *_, source, _ in shuffled], dtype=np.int64),
        np.array([value for *_, value in shuffled], dtype=np.float64),
    )


def _comparable(rows: list[BucketRow]) -> list[tuple]:
    """Rows with floats rounded where the order of additions may differ (de-duplicated
    rates are value per millisecond)."""

    def rounded(x):
        return None if x is None else round(x, 6)

    return [
        (
            r.bucket,
            r.offset_min,
            r.count,
            rounded(r.total),
            r.low,
            r.high,
            r.first_ms,
            r.last_ms,
            r.first_offset_min,
            {k: rounded(v) for k, v in (r.by_source or {}).items()},
        )
        for r in rows
    ]


@pytest.mark.parametrize("epoch", sorted(EPOCHS))
@pytest.mark.parametrize("code", ["steps", "heart_rate"])  # a sum, and count/min/max/mean
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    samples=st.lists(
        held_sample, min_size=1, max_size=40, unique_by=lambda s: (s[0], s[1], s[3], s[4])
    )  # the store keeps one of samples alike in all but their offset
)
def test_held_samples_give_the_daily_rows_the_store_gives(engine, code, epoch, samples):
    base_ms = EPOCHS[epoch]
    person = _store(engine, code, base_ms, samples)
    held = _held(person, base_ms, samples)
    first_day, end_day = base_ms // DAY_MS - 2, base_ms // DAY_MS + 7
    with engine.connect() as conn:
        measure = stored_measures(owner_writer(conn, person.id))[code]
        ranked = ranked_source_ids(owner_writer(conn, person.id), code)
        stored = summaries.compute_days(
            owner_writer(conn, person.id), measure, first_day, end_day, ranked
        )
        from_held = summaries.compute_days(
            owner_writer(conn, person.id), measure, first_day, end_day, ranked, held
        )
    assert stored, "every sample lies in the days asked for"
    assert _comparable(from_held) == _comparable(stored)
