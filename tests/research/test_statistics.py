"""Quantiles and histograms on synthetic persons with known values: each answer lies within
its stated interval in most releases, with OpenDP's own noise scale and accuracy."""

from __future__ import annotations

import bisect
import math
import random

import opendp.prelude as dp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthpod.research import statistics

BOUNDS = (0.0, 30_000.0)
_RANDOM = random.Random(21)
PEOPLE = [_RANDOM.uniform(2_000, 14_000) for _ in range(2_000)]
RELEASES = 200
# Each statement holds with probability at least 95%; 93% of 200 releases leaves a miss by
# chance of about one run in a hundred (binomial, p = 0.95) at worst; the quantiles' bound is
# loose (a union bound), so they miss far less.
AT_LEAST = 0.93


@pytest.mark.parametrize("q", [0.25, 0.5, 0.9])
def test_each_quantile_is_within_its_rank_interval_in_most_releases(q):
    ordered = sorted(PEOPLE)
    inside = 0
    for _ in range(RELEASES):
        answer = statistics.quantiles([q], BOUNDS, 0.05, PEOPLE)
        (found,) = answer.quantiles
        assert answer.epsilon_spent == pytest.approx(0.05, rel=1e-6)
        assert BOUNDS[0] <= found.value <= BOUNDS[1]
        share_below = bisect.bisect_left(ordered, found.value) / len(ordered)
        low, high = found.rank_interval
        inside += low <= share_below <= high
    assert inside >= AT_LEAST * RELEASES, inside
    # The interval's half width is the exponential mechanism's bound for OpenDP's grid.
    half = 2 * max(q, 1 - q) * math.log(statistics.CANDIDATES / 0.05) / 0.05 / len(PEOPLE)
    assert (low, high) == pytest.approx((max(0.0, q - half), min(1.0, q + half)))


def test_several_quantiles_share_the_epsilon():
    answer = statistics.quantiles([0.25, 0.5, 0.75], BOUNDS, 0.9, PEOPLE)
    assert answer.epsilon_spent == pytest.approx(0.9, rel=1e-6)
    assert [q.q for q in answer.quantiles] == [0.25, 0.5, 0.75]
    one = statistics.quantiles([0.5], BOUNDS, 0.3, PEOPLE).quantiles[0]
    assert answer.quantiles[1].noise_scale == pytest.approx(one.noise_scale)


def test_each_bin_is_within_its_interval_in_most_releases():
    edges = [0.0, 4_000.0, 8_000.0, 12_000.0, 16_000.0]
    truth = [0] * (len(edges) + 1)
    for v in PEOPLE:
        truth[bisect.bisect_right(edges, v)] += 1
    inside = total = 0
    for _ in range(RELEASES):
        answer = statistics.histogram(edges, BOUNDS, 0.5, PEOPLE)
        assert answer.epsilon_spent == pytest.approx(0.5, rel=1e-6)
        accuracy = dp.discrete_laplacian_scale_to_accuracy(answer.noise_scale, 0.05)
        for b, true_count in zip(answer.bins, truth, strict=True):
            assert b.interval[1] - b.interval[0] == pytest.approx(2 * accuracy)
            inside += b.interval[0] <= true_count <= b.interval[1]
            total += 1
    assert inside >= AT_LEAST * total, (inside, total)
    # One person is in one bin: a histogram is a count's noise, once (scale 1 / epsilon).
    assert answer.noise_scale == pytest.approx(2.0, rel=0.01)


@settings(max_examples=25, deadline=None)
@given(
    edges=st.lists(
        st.floats(-1_000, 40_000, allow_nan=False), min_size=1, max_size=8, unique=True
    ).map(sorted),
    values=st.lists(st.floats(-5_000, 50_000, allow_nan=False), min_size=0, max_size=40),
)
def test_a_histogram_has_a_bin_per_gap_and_clamps_to_the_bounds(edges, values):
    answer = statistics.histogram(edges, BOUNDS, 1.0, values)
    assert len(answer.bins) == len(edges) + 1
    assert answer.bins[0].low is None and answer.bins[-1].high is None
    assert [b.low for b in answer.bins[1:]] == edges
    assert all(float(b.count).is_integer() for b in answer.bins)
    assert answer.cohort == len(values)


@settings(max_examples=25, deadline=None)
@given(
    q=st.floats(0.01, 0.99),
    values=st.lists(st.floats(-5_000, 50_000, allow_nan=False), min_size=1, max_size=40),
)
def test_a_quantile_is_always_a_candidate_within_the_bounds(q, values):
    (found,) = statistics.quantiles([q], BOUNDS, 1.0, values).quantiles
    assert found.value in statistics.candidates(BOUNDS)
    assert 0.0 <= found.rank_interval[0] <= q <= found.rank_interval[1] <= 1.0
