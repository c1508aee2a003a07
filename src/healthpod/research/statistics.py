"""Quantiles and histograms of one value per person (each person's mean daily value), with OpenDP.

Both take the values of one release's cohort, already clamped to the asked bounds, and an
epsilon; OpenDP makes the measurement, finds its noise scale and adds the noise. Nothing here
draws a random number of its own.

Quantiles: OpenDP's `make_private_quantile` (Smith 2011; the exponential mechanism over a grid
of 1,001 candidates evenly spread over the bounds, so the value's resolution is a thousandth of
the bounds' width). Several quantiles share the epsilon equally (basic composition, as OpenDP's
`make_composition` states it). OpenDP states no accuracy for this mechanism in the value's own
unit, so a quantile has no value interval; instead it has a rank interval: with probability at
least 95% the share of persons below the released value lies within
`2 * max(q, 1 - q) * ln(candidates / 0.05) / (epsilon_q * n)` of `q` (plus the grid's own
step). That is the exponential mechanism's utility bound (a union bound over the candidates)
for OpenDP's score, `|(1 - q) * below - q * above|` in persons, whose sensitivity is
`max(q, 1 - q)`; the factor 2 is the mechanism's, for a score that can move either way.

Histograms: each value falls in one bin (OpenDP's `make_find_bin` over the given edges, left
edge inclusive), OpenDP counts the bins (`make_count_by_categories`) and adds discrete
Laplace (geometric) noise to each count; each bin's 95% interval is OpenDP's
`discrete_laplacian_scale_to_accuracy` at alpha 0.05 around its count. One person is in one
bin, so the counts are released together for the one epsilon.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp

dp.enable_features("contrib")

ALPHA = 0.05
CANDIDATES = 1001
MAX_QUANTILES = 9
MAX_BINS = 50


@dataclass(frozen=True, slots=True)
class Quantile:
    q: float
    value: float
    noise_scale: float
    rank_interval: tuple[float, float]

    def document(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "value": self.value,
            "noise_scale": self.noise_scale,
            "rank_interval": list(self.rank_interval),
        }


@dataclass(frozen=True, slots=True)
class Quantiles:
    quantiles: tuple[Quantile, ...]
    epsilon_spent: float
    cohort: int

    @property
    def value(self) -> float:
        """What the release's row keeps: the first quantile asked for."""
        return self.quantiles[0].value

    def document(self) -> dict[str, Any]:
        return {
            "value": [q.value for q in self.quantiles],
            "epsilon_spent": self.epsilon_spent,
            "noise_scale": [q.noise_scale for q in self.quantiles],
            "interval": None,  # OpenDP states no accuracy in the value's unit: see rank_interval
            "cohort": self.cohort,
            "quantiles": [q.document() for q in self.quantiles],
        }

    def summary(self) -> str:
        parts = [
            f"q{q.q:g} {q.value:.6g} (95%: between the q{q.rank_interval[0]:.3g} and "
            f"q{q.rank_interval[1]:.3g} of the persons)"
            for q in self.quantiles
        ]
        return (
            f"quantiles {'; '.join(parts)} over {self.cohort} people "
            f"(epsilon {self.epsilon_spent:.4g})"
        )


@dataclass(frozen=True, slots=True)
class Bin:
    low: float | None  # None: from minus infinity
    high: float | None  # None: to infinity
    count: float
    interval: tuple[float, float]

    def document(self) -> dict[str, Any]:
        return {
            "from": self.low,
            "to": self.high,
            "count": self.count,
            "interval": list(self.interval),
        }


@dataclass(frozen=True, slots=True)
class Histogram:
    bins: tuple[Bin, ...]
    edges: tuple[float, ...]
    epsilon_spent: float
    noise_scale: float
    cohort: int

    @property
    def value(self) -> float:
        """What the release's row keeps: the sum of the noisy counts."""
        return float(sum(b.count for b in self.bins))

    def document(self) -> dict[str, Any]:
        return {
            "value": [b.count for b in self.bins],
            "epsilon_spent": self.epsilon_spent,
            "noise_scale": self.noise_scale,
            "interval": [list(b.interval) for b in self.bins],
            "cohort": self.cohort,
            "edges": list(self.edges),
            "bins": [b.document() for b in self.bins],
        }

    def summary(self) -> str:
        counts = ", ".join(f"{_label(b)}: {b.count:g}" for b in self.bins)
        half = (self.bins[0].interval[1] - self.bins[0].interval[0]) / 2
        return (
            f"histogram {counts} over {self.cohort} people (95% interval of each count "
            f"+/- {half:.3g}; epsilon {self.epsilon_spent:.4g}, noise scale {self.noise_scale:.4g})"
        )


def _label(b: Bin) -> str:
    low = "-inf" if b.low is None else f"{b.low:g}"
    high = "inf" if b.high is None else f"{b.high:g}"
    return f"[{low}, {high})"


def _space() -> Any:
    return dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()


def candidates(bounds: tuple[float, float]) -> list[float]:
    """The grid a quantile is chosen from: 1,001 values evenly over the bounds."""
    low, high = bounds
    step = (high - low) / (CANDIDATES - 1)
    return [low + step * i for i in range(CANDIDATES - 1)] + [high]


def _calibrated(make: Callable[[float], Any], epsilon: float) -> float:
    """The smallest noise scale whose measurement OpenDP's privacy map says spends at most
    `epsilon` for one person. Both mechanisms here spend in proportion to 1/scale, so OpenDP's
    map at scale 1 gives the scale at once; the map at that scale is checked, and OpenDP's
    binary search is the fallback (it takes some twenty measurements to get there)."""
    scale = float(make(1.0).map(1)) / epsilon
    for _ in range(3):
        if float(make(scale).map(1)) <= epsilon:
            return scale
        scale *= 1 + 1e-12
    return float(dp.binary_search_param(make, d_in=1, d_out=epsilon))


def _quantile(q: float, grid: list[float], scale: float) -> Any:
    domain, metric = _space()
    return dp.m.make_private_quantile(domain, metric, dp.max_divergence(), grid, q, scale)


@functools.lru_cache(maxsize=256)
def _quantile_scale(q: float, bounds: tuple[float, float], epsilon: float) -> float:
    """OpenDP's noise scale for one quantile at `epsilon` (kept: a question asked again
    reuses it)."""
    grid = candidates(bounds)
    return _calibrated(lambda s: _quantile(q, grid, s), epsilon)


def quantiles(
    qs: Sequence[float], bounds: tuple[float, float], epsilon: float, values: list[float]
) -> Quantiles:
    """The differentially private quantiles `qs` of the values (each in [0, 1])."""
    grid = candidates(bounds)
    share = epsilon / len(qs)
    parts = []
    for q in qs:
        scale = _quantile_scale(q, bounds, share)
        parts.append((q, scale, _quantile(q, grid, scale)))
    together: Any = dp.c.make_composition([m for _, _, m in parts])
    spent = float(together.map(1))
    released = together(values)
    n = len(values)
    found = []
    for (q, scale, _), value in zip(parts, released, strict=True):
        persons = 2 * max(q, 1 - q) * math.log(len(grid) / ALPHA) / share
        wiggle = persons / n if n else 1.0
        found.append(Quantile(q, float(value), scale, (max(0.0, q - wiggle), min(1.0, q + wiggle))))
    return Quantiles(tuple(found), spent, n)


def _histogram(cuts: tuple[float, ...], scale: float) -> Any:
    counted = (
        _space()
        >> dp.t.then_find_bin(edges=list(cuts))  # type: ignore[no-untyped-call]
        >> dp.t.then_count_by_categories(categories=list(range(len(cuts) + 1)), null_category=False)
    )
    return counted >> dp.m.then_laplace(scale)


@functools.lru_cache(maxsize=256)
def _histogram_scale(cuts: tuple[float, ...], epsilon: float) -> float:
    return _calibrated(lambda s: _histogram(cuts, s), epsilon)


def histogram(
    edges: Sequence[float], bounds: tuple[float, float], epsilon: float, values: list[float]
) -> Histogram:
    """The differentially private count of values in each bin: below the first edge, between
    each two edges (left edge inclusive), and from the last edge up."""
    cuts = tuple(float(e) for e in edges)
    scale = _histogram_scale(cuts, epsilon)
    made = _histogram(cuts, scale)
    spent = float(made.map(1))
    counts = made([min(max(v, bounds[0]), bounds[1]) for v in values])
    accuracy = float(dp.discrete_laplacian_scale_to_accuracy(scale, ALPHA))
    lows: list[float | None] = [None, *cuts]
    highs: list[float | None] = [*cuts, None]
    found = tuple(
        Bin(low, high, float(c), (float(c) - accuracy, float(c) + accuracy))
        for low, high, c in zip(lows, highs, counts, strict=True)
    )
    return Histogram(found, tuple(cuts), spent, scale, len(values))
