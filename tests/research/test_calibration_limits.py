"""Every question the checks let through gets an answer from OpenDP, never an exception: the
bounds within ±`MAX_BOUND`, at least `MIN_SPAN` of their size apart, epsilon from
`MIN_EPSILON` (and down to a 36th of it, as a grouping per month splits it)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthpod.research import aggregate, statistics

_bound = st.floats(-aggregate.MAX_BOUND, aggregate.MAX_BOUND, allow_nan=False)


@st.composite
def _bounds(draw: st.DrawFn) -> tuple[float, float]:
    low, high = sorted((draw(_bound), draw(_bound)))
    if high - low < aggregate.MIN_SPAN * max(1.0, abs(low), abs(high)):
        high = min(aggregate.MAX_BOUND, low + max(1.0, abs(low)) * 2 * aggregate.MIN_SPAN)
        low = high - max(1.0, abs(high)) * 2 * aggregate.MIN_SPAN
    return low, high


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bounds=_bounds(),
    epsilon=st.floats(aggregate.MIN_EPSILON / 36, 1000.0),
    statistic=st.sampled_from(aggregate.STATISTICS),
    size=st.integers(1, 300),
)
def test_opendp_answers_every_question_the_checks_let_through(
    bounds: tuple[float, float], epsilon: float, statistic: str, size: int
) -> None:
    low, high = bounds
    values = [low + (high - low) * (i % 7) / 6 for i in range(size)]
    if statistic == "quantile":
        found = statistics.quantiles([0.25, 0.5], bounds, epsilon, values)
        assert all(low <= q.value <= high for q in found.quantiles)
    elif statistic == "histogram":
        found_bins = statistics.histogram([low, (low + high) / 2, high], bounds, epsilon, values)
        assert all(math.isfinite(b.count) for b in found_bins.bins)
    else:
        answer = aggregate.noisy(statistic, bounds, epsilon, values)
        assert math.isfinite(answer.value) and answer.noise_scale > 0
